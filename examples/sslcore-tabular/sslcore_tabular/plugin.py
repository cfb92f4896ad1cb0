"""Registration hooks of the tabular example plugin."""

from sslcore import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "scarf",
            domain="tabular",
            factory="sslcore_tabular.scarf:SCARF",
            summary="SCARF: InfoNCE between a row and a copy with features resampled from their marginals",
            default_encoder="mlp",
            recipe=Recipe(
                train={
                    "epochs": 1000,
                    "batch_size": 128,
                    "lr": 1e-3,
                    "optimizer": "adam",
                    "weight_decay": 0.0,
                    "warmup": 0.0,
                    "min_lr_ratio": 1.0,
                },
                task_options={"corruption_rate": 0.6, "temperature": 1.0},
                dataset="breast-cancer",
                reference="Bahri et al. 2022 (SCARF): 1000 epochs, batch 128, Adam lr 0.001, corruption "
                "rate 0.6, tau 1.0; not benchmarked here (an example plugin)",
            ),
        )
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [EncoderSpec("mlp", domain="tabular", factory="sslcore_tabular.mlp:build_mlp", summary="ReLU MLP")]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "breast-cancer",
            domain="tabular",
            sample="row",
            factory="sslcore_tabular.data:breast_cancer",
            summary="scikit-learn's Wisconsin breast cancer rows (569 x 30, 2 classes)",
            needs_root=False,
        ),
        DatasetSpec(
            "wine",
            domain="tabular",
            sample="row",
            factory="sslcore_tabular.data:wine",
            summary="scikit-learn's wine rows (178 x 13, 3 classes)",
            needs_root=False,
        ),
    ]

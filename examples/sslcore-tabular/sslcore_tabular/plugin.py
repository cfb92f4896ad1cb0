"""Registration hooks of the tabular example plugin."""

from sslcore import DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "scarf",
            domain="tabular",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_tabular.scarf:SCARF",
            summary="SCARF: InfoNCE between a row and a copy with features resampled from their marginals",
            signal="instance identity under random feature corruption",
            family="instance-instance",
            negatives="end-to-end",
            default_encoder="mlp",
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

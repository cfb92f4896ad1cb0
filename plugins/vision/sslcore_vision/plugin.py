"""Registration hooks of sslcore-vision. Factories are strings, so loading the plugin
imports neither torchvision nor the components."""

from __future__ import annotations

from sslcore import DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "simclr",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.simclr:SimCLR",
            summary="SimCLR: NT-Xent between two augmented views of each image (Chen et al. 2020)",
            signal="instance identity across augmented views",
            family="instance-instance",
            negatives="end-to-end",
            default_encoder="small_cnn",
        ),
        # -- instance-instance tasks (moco_v2, byol, simsiam, swav, barlow_twins) --
        # -- context-instance tasks (rotation, relative_position, jigsaw, pirl, deep_infomax) --
        # -- generative tasks (colorization, inpainting, masked_denoising) --
        # -- generative-contrastive tasks (adversarial inpainting and colorization) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "small_cnn",
            domain="vision",
            factory="sslcore_vision.encoders.small_cnn:small_cnn",
            summary="4 conv-BN-ReLU blocks + global average pooling; fast on CPU (options: width, output_dim)",
        ),
        EncoderSpec(
            "resnet18",
            domain="vision",
            factory="sslcore_vision.encoders.resnet:resnet18",
            summary="torchvision ResNet-18 without fc, 512-d (option: small_images for a 3x3 stride-1 stem)",
        ),
        # -- more encoders --
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "fashion-mnist",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.fashion_mnist:fashion_mnist",
            summary="Fashion-MNIST: 60k train + 10k test 28x28 grey images, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "digits",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.digits:digits",
            summary="scikit-learn digits: 1797 8x8 grey images resized to 16x16, 70/30 split, 10 classes",
            needs_root=False,
        ),
        # -- more datasets --
    ]

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
        TaskSpec(
            "moco_v2",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.moco_v2:MoCoV2",
            summary="MoCo v2: InfoNCE against a queue of momentum-encoder keys, MLP head (He et al. 2020; Chen et al. 2020)",
            signal="instance identity across augmented views",
            family="instance-instance",
            negatives="momentum",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "byol",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.byol:BYOL",
            summary="BYOL: predict an EMA target network's projection of the other view (Grill et al. 2020)",
            signal="agreement of augmented views with a bootstrapped momentum target",
            family="instance-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "simsiam",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.simsiam:SimSiam",
            summary="SimSiam: predict the other view's projection through a stop-gradient (Chen & He 2021)",
            signal="agreement of augmented views through a stop-gradient",
            family="instance-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "swav",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.swav:SwAV",
            summary="SwAV: swapped prediction of Sinkhorn-Knopp prototype codes over multi-crop views (Caron et al. 2020)",
            signal="swapped prediction of cluster assignments across crops",
            family="instance-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "barlow_twins",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.barlow_twins:BarlowTwins",
            summary="Barlow Twins: cross-correlation of two views' projections driven to the identity (Zbontar et al. 2021)",
            signal="redundancy reduction between augmented views",
            family="instance-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        # -- instance-instance tasks (moco_v2, byol, simsiam, swav, barlow_twins) --
        TaskSpec(
            "rotation",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.rotation:RotationPrediction",
            summary="RotNet: classify the rotation (0/90/180/270 degrees) of each image (Gidaris et al. 2018)",
            signal="rotation applied to the image",
            family="context-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "relative_position",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.relative_position:RelativePosition",
            summary="Context prediction: where a patch lies relative to the centre patch, 8-way (Doersch et al. 2015)",
            signal="position of a patch relative to the centre patch",
            family="context-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "jigsaw",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.jigsaw:Jigsaw",
            summary="Jigsaw puzzles: which of a max-Hamming permutation set shuffled 3x3 tiles (Noroozi & Favaro 2016)",
            signal="permutation of shuffled image tiles",
            family="context-instance",
            negatives="none",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "pirl",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.pirl:PIRL",
            summary="PIRL: image and its jigsaw tiles match a memory-bank entry, NCE (Misra & van der Maaten 2020)",
            signal="invariance of an image's representation to its jigsaw transform",
            family="instance-instance",
            negatives="memory-bank",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "deep_infomax",
            domain="vision",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_vision.tasks.deep_infomax:DeepInfoMax",
            summary="Deep InfoMax local-global: JSD (or InfoNCE) MI between local features and the global vector (Hjelm et al. 2019)",
            signal="local features vs the global summary of the same image",
            family="context-instance",
            negatives="end-to-end",
            default_encoder="small_cnn",
        ),
        # -- context-instance tasks (rotation, relative_position, jigsaw, pirl, deep_infomax) --
        TaskSpec(
            "colorization",
            domain="vision",
            paradigm=Paradigm.GENERATIVE,
            factory="sslcore_vision.tasks.colorization:Colorization",
            summary="Colorization: regress the a*b* colour channels from the L channel (after Zhang et al. 2016); colour data only",
            signal="colour (a*b*) from lightness (L)",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "inpainting",
            domain="vision",
            paradigm=Paradigm.GENERATIVE,
            factory="sslcore_vision.tasks.inpainting:Inpainting",
            summary="Context encoder: reconstruct a hidden central (or random) square from its context, L2 loss (Pathak et al. 2016)",
            signal="pixels of a hidden image region from its context",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "masked_denoising",
            domain="vision",
            paradigm=Paradigm.GENERATIVE,
            factory="sslcore_vision.tasks.masked_denoising:MaskedDenoising",
            summary="Masked-patch denoising auto-encoder: hide 60% of 4x4 patches, L2 loss on hidden patches (SimMIM/MAE style)",
            signal="pixels of randomly masked patches",
            default_encoder="small_cnn",
        ),
        # -- generative tasks (colorization, inpainting, masked_denoising) --
        TaskSpec(
            "adversarial_inpainting",
            domain="vision",
            paradigm=Paradigm.ADVERSARIAL,
            factory="sslcore_vision.tasks.adversarial_inpainting:AdversarialInpainting",
            summary="Context encoder with 0.999 L2 + 0.001 adversarial loss, patch discriminator, alternating updates (Pathak et al. 2016)",
            signal="a hidden image region, reconstructed and judged real vs generated",
            default_encoder="small_cnn",
        ),
        TaskSpec(
            "adversarial_colorization",
            domain="vision",
            paradigm=Paradigm.ADVERSARIAL,
            factory="sslcore_vision.tasks.adversarial_colorization:AdversarialColorization",
            summary="Colorization with a conditional patch discriminator on (L, ab), alternating updates; colour data only",
            signal="colour from lightness, judged real vs generated",
            default_encoder="small_cnn",
        ),
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
        EncoderSpec(
            "resnet50",
            domain="vision",
            factory="sslcore_vision.encoders.resnet:resnet50",
            summary="torchvision ResNet-50 without fc, 2048-d (option: small_images for a 3x3 stride-1 stem)",
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
        DatasetSpec(
            "sample-photos",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.sample_photos:sample_photos",
            summary="colour crops of scikit-learn's two sample photos: 2 x 128 32x32 RGB crops, 75/25 split, 2 classes",
            needs_root=False,
        ),
        DatasetSpec(
            "mnist",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.mnist:mnist",
            summary="MNIST: 60k train + 10k test 28x28 grey digits, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "cifar10",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.cifar:cifar10",
            summary="CIFAR-10: 50k train + 10k test 32x32 colour images, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "cifar100",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.cifar:cifar100",
            summary="CIFAR-100: 50k train + 10k test 32x32 colour images, 100 classes (torchvision loader)",
        ),
        DatasetSpec(
            "stl10",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.stl10:stl10",
            summary="STL-10: 100k unlabelled 96x96 colour images for pretraining, 5k + 8k labelled, 10 classes",
        ),
        DatasetSpec(
            "image-folder",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.image_folder:image_folder",
            summary="Any root/<class>/<image> tree (torchvision ImageFolder), decoded once; stratified split",
        ),
        # -- more datasets --
    ]

from __future__ import annotations

import subprocess
import sys

import pytest

from sslcore import ConfigError
from sslcore.build import build_encoder, build_task
from sslcore.plugins import get_registry, resolve_factory
from sslcore_vision.plugin import sslcore_register_tasks


def test_loading_the_plugin_imports_nothing_heavy():
    code = (
        "import sys, sslcore_vision.plugin as p;"
        "p.sslcore_register_tasks(); p.sslcore_register_encoders(); p.sslcore_register_datasets();"
        "heavy = [m for m in ('torchvision', 'sklearn', 'sslcore_vision.tasks.simclr') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_entry_point_registers_the_vision_components():
    info = get_registry(reload=True).plugins["vision"]
    assert info.distribution == "sslcore-vision"
    instance = "simclr moco_v2 byol simsiam swav barlow_twins pirl"
    context = "rotation relative_position jigsaw deep_infomax"
    generative = "colorization inpainting masked_denoising adversarial_inpainting adversarial_colorization"
    vit_era = "mae dino moco_v3 ibot vicreg"
    assert set(info.tasks) == set(f"{instance} {context} {generative} {vit_era}".split())
    assert set(info.encoders) == {"small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small", "vit", "timm"}
    datasets = "fashion-mnist mnist cifar10 cifar100 stl10 image-folder digits sample-photos"
    assert set(info.datasets) == set(datasets.split())


def test_specs_read_their_taxonomy_from_the_task_classes(registry):
    for spec in registry.specs("task", "vision").values():
        cls = resolve_factory(spec.factory)
        assert all(v is None for v in spec.declared_taxonomy().values()), spec.name  # not repeated
        assert (cls.paradigm, cls.domain, cls.signal, cls.family, cls.negatives) == (
            spec.paradigm,
            spec.domain,
            spec.signal,
            spec.family,
            spec.negatives,
        )
        assert registry.encoder(spec.default_encoder).domain == "vision"


#: the colour tasks feed their encoder the lightness channel: test_generative_tasks.py checks them
GREY_DATA_TASKS = [
    spec.name
    for spec in sslcore_register_tasks()
    if spec.name not in ("colorization", "adversarial_colorization")
]


@pytest.mark.parametrize("name", GREY_DATA_TASKS)
def test_every_task_rejects_an_encoder_with_other_input_channels(name, registry, digits_bundle):
    colour_encoder = build_encoder("small_cnn", {"in_channels": 3}, {"width": 8}, registry)
    with pytest.raises(ConfigError, match=r"the encoder takes 3-channel images but the data has 1 channel"):
        build_task(name, digits_bundle, encoder=colour_encoder, registry=registry)

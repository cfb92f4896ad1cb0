"""sslcore's plugin conformance suite over everything this plugin registers (tasks on
scikit-learn's digits, the colour tasks on crops of its sample photos; the datasets that
need files are covered by test_datasets.py). The ViT tasks are checked with a one-block
32-d ``vit`` and ``timm`` with a small ResNet, to keep the suite fast."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2}


class TestConformance(ConformanceSuite):
    plugin = "vision"
    datasets = {"colorization": "sample-photos", "adversarial_colorization": "sample-photos"}
    dataset_options = {"sample-photos": {"crops_per_photo": 16}}
    encoder_options = {"timm": {"model": "resnet10t"}, "vit": TINY_VIT}
    encoders = {"mae": "vit", "ibot": "vit"}

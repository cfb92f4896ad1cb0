"""sslcore's plugin conformance suite over everything this plugin registers (tasks on
scikit-learn's digits, the colour tasks on crops of its sample photos; the datasets that
need files are covered by test_datasets.py)."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite


class TestConformance(ConformanceSuite):
    plugin = "vision"
    datasets = {"colorization": "sample-photos", "adversarial_colorization": "sample-photos"}
    dataset_options = {"sample-photos": {"crops_per_photo": 16}}

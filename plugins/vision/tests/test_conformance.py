"""sslcore's plugin conformance suite over everything this plugin registers (tasks on
scikit-learn's digits; the datasets that need files are covered by test_datasets.py)."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite

COLOUR = "needs colour images and digits are grey; checked on colour crops in test_colour_tasks.py"


class TestConformance(ConformanceSuite):
    plugin = "vision"
    skip = {"colorization": COLOUR, "adversarial_colorization": COLOUR}

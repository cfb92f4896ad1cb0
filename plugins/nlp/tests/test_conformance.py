"""sslcore's plugin conformance suite over everything this plugin registers (tasks on the
standard library's docstrings; the file-based datasets are covered by test_nlp_text_files.py and test_nlp_datasets.py)."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite


class TestConformance(ConformanceSuite):
    plugin = "nlp"

"""sslcore's plugin conformance suite over everything this plugin registers (tasks on the
generated SBM graph; Planetoid datasets from the shared data folder)."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite, shared_data_dir


class TestConformance(ConformanceSuite):
    plugin = "graph"
    data_root = str(shared_data_dir())
    skip = {
        "infograph": "needs batches of several graphs and every graph dataset without files is one "
        "graph; checked on generated graph sets in test_graph_level_tasks.py",
        "tudataset": "the shared data has no TUDataset files; test_tudataset.py builds one on disk",
        "citeseer": "the shared data has Cora only",
        "pubmed": "the shared data has Cora only",
    }

"""sslcore's plugin conformance suite over everything this plugin registers (tasks on the
generated SBM graph, graph-level tasks on karate's ego-networks; Planetoid datasets from
the shared data folder)."""

from __future__ import annotations

from sslcore.testing import ConformanceSuite, shared_data_dir


class TestConformance(ConformanceSuite):
    plugin = "graph"
    data_root = str(shared_data_dir())
    # graph-level tasks need sets of graphs: karate's 34 one-hop ego-networks need no files
    datasets = {"graphcl": "ego_networks", "infograph": "ego_networks"}
    dataset_options = {"ego_networks": {"source": "karate", "hops": 1}}
    skip = {
        "tudataset": "the shared data has no TUDataset files; test_tudataset.py builds one on disk",
        "citeseer": "the shared data has Cora only",
        "pubmed": "the shared data has Cora only",
    }

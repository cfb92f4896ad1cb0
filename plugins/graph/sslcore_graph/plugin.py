"""sslcore registration hooks of the graph plugin (imports nothing heavy)."""

from __future__ import annotations

from sslcore.paradigms import Paradigm
from sslcore.plugins import DatasetSpec, EncoderSpec, TaskSpec, hookimpl

_PKG = "sslcore_graph"


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "dgi",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.dgi:DeepGraphInfomax",
            summary="Deep Graph Infomax: node-summary mutual information vs. a feature-shuffled graph",
            signal="node-summary mutual information",
            family="context-instance",
            negatives="end-to-end",
            default_encoder="gcn",
        ),
        # -- node-level contrastive tasks (GRACE, BGRL, MVGRL) --
        # -- graph-level tasks (GCC, GraphCL, InfoGraph) --
        # -- generative and adversarial tasks (GAE, VGAE, attribute masking, ARGA, ARVGA) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "gcn",
            domain="graph",
            factory=f"{_PKG}.encoders.gcn:build_gcn",
            summary="GCNConv layers + PReLU (DGI: 1 layer, 512 units); node embeddings",
        ),
        # -- more encoders --
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    planetoid = "Planetoid citation graph, public split, row-normalised features"
    return [
        DatasetSpec("cora", "graph", f"{_PKG}.datasets.planetoid:cora", "node", f"Cora: {planetoid}"),
        DatasetSpec(
            "citeseer", "graph", f"{_PKG}.datasets.planetoid:citeseer", "node", f"CiteSeer: {planetoid}"
        ),
        DatasetSpec("pubmed", "graph", f"{_PKG}.datasets.planetoid:pubmed", "node", f"PubMed: {planetoid}"),
        DatasetSpec(
            "sbm",
            "graph",
            f"{_PKG}.datasets.sbm:sbm",
            "node",
            "synthetic stochastic-block-model graph (400 nodes, 4 classes, 1024 features), no files needed",
            needs_root=False,
        ),
        DatasetSpec(
            "karate",
            "graph",
            f"{_PKG}.datasets.karate:karate",
            "node",
            "Zachary's karate club (34 nodes, 4 classes), ships with PyG",
            needs_root=False,
        ),
        # -- more datasets --
    ]

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
        TaskSpec(
            "grace",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.grace:GRACE",
            summary="GRACE: NT-Xent between nodes of two views (edge dropping + feature masking), intra- and inter-view negatives",
            signal="node identity across two augmented views",
            family="instance-instance",
            negatives="end-to-end",
            default_encoder="gcn",
        ),
        TaskSpec(
            "bgrl",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.bgrl:BGRL",
            summary="BGRL: predict an EMA target encoder's node embeddings of the other view (negative cosine), no negatives",
            signal="agreement of augmented node views with a bootstrapped momentum target",
            family="instance-instance",
            negatives="none",
            default_encoder="gcn",
        ),
        TaskSpec(
            "mvgrl",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.mvgrl:MVGRL",
            summary="MVGRL: cross-view node-graph mutual information between adjacency and PPR-diffusion views",
            signal="cross-view node-graph mutual information (adjacency vs. diffusion)",
            family="context-instance",
            negatives="end-to-end",
            default_encoder="gcn",
        ),
        # -- node-level contrastive tasks (GRACE, BGRL, MVGRL) --
        TaskSpec(
            "gcc",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.gcc:GraphContrastiveCoding",
            summary="GCC: subgraph instance discrimination (RWR subgraphs, MoCo queue), structure only, transfers",
            signal="subgraph instance discrimination (random walks with restart)",
            family="instance-instance",
            negatives="momentum",
            default_encoder="gin",
        ),
        TaskSpec(
            "graphcl",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.graphcl:GraphCL",
            summary="GraphCL: NT-Xent between two augmented views of each graph (graph level)",
            signal="graph identity across augmentations",
            family="instance-instance",
            negatives="end-to-end",
            default_encoder="gin",
        ),
        TaskSpec(
            "infograph",
            domain="graph",
            paradigm=Paradigm.CONTRASTIVE,
            factory=f"{_PKG}.tasks.infograph:InfoGraph",
            summary="InfoGraph: node-graph mutual information (JSD), other graphs of the batch as negatives",
            signal="node-graph (local-global) mutual information",
            family="context-instance",
            negatives="end-to-end",
            default_encoder="gin",
        ),
        # -- graph-level tasks (GCC, GraphCL, InfoGraph) --
        # -- generative and adversarial tasks (GAE, VGAE, attribute masking, ARGA, ARVGA) --
        TaskSpec(
            "gae",
            domain="graph",
            paradigm=Paradigm.GENERATIVE,
            factory=f"{_PKG}.tasks.autoencoders:GraphAutoEncoder",
            summary="GAE: reconstruct edges with an inner-product decoder, negative sampling (link prediction)",
            signal="edge reconstruction",
            default_encoder="gcn",
        ),
        TaskSpec(
            "vgae",
            domain="graph",
            paradigm=Paradigm.GENERATIVE,
            factory=f"{_PKG}.tasks.autoencoders:VariationalGraphAutoEncoder",
            summary="VGAE: variational graph auto-encoder (Gaussian latents, KL/N), inner-product decoder",
            signal="edge reconstruction (variational)",
            default_encoder="gcn",
        ),
        TaskSpec(
            "attribute_masking",
            domain="graph",
            paradigm=Paradigm.GENERATIVE,
            factory=f"{_PKG}.tasks.attribute_masking:AttributeMasking",
            summary="attribute masking (Hu et al. 2020): predict the features of 15 % masked nodes",
            signal="masked node attribute prediction",
            default_encoder="gcn",
        ),
        TaskSpec(
            "arga",
            domain="graph",
            paradigm=Paradigm.ADVERSARIAL,
            factory=f"{_PKG}.tasks.arga:AdversarialGraphAutoEncoder",
            summary="ARGA: graph auto-encoder + MLP discriminator pushing embeddings to a Gaussian prior",
            signal="edge reconstruction + embeddings indistinguishable from a Gaussian prior",
            default_encoder="gcn",
        ),
        TaskSpec(
            "arvga",
            domain="graph",
            paradigm=Paradigm.ADVERSARIAL,
            factory=f"{_PKG}.tasks.arga:AdversarialVariationalGraphAutoEncoder",
            summary="ARVGA: variational graph auto-encoder + MLP discriminator against a Gaussian prior",
            signal="variational edge reconstruction + embeddings indistinguishable from a Gaussian prior",
            default_encoder="gcn",
        ),
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
        EncoderSpec(
            "gin",
            domain="graph",
            factory=f"{_PKG}.encoders.gin:build_gin",
            summary="GINConv (MLP) + BatchNorm + ReLU, 5 x 32 units, layers concatenated, sum readout",
        ),
        EncoderSpec(
            "gat",
            domain="graph",
            factory=f"{_PKG}.encoders.gat:build_gat",
            summary="GATConv layers (4 heads concatenated) + ELU, 2 x 256 units, mean readout",
        ),
        EncoderSpec(
            "sage",
            domain="graph",
            factory=f"{_PKG}.encoders.sage:build_sage",
            summary="GraphSAGE (SAGEConv, mean aggregation) + ReLU, 2 x 256 units, mean readout",
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
        DatasetSpec(
            "tudataset",
            "graph",
            f"{_PKG}.datasets.tudataset:tudataset",
            "graph",
            "TU graph classification (name=MUTAG, PROTEINS, IMDB-BINARY, ...), 10-fold CV; local files",
        ),
        DatasetSpec(
            "transfer",
            "graph",
            f"{_PKG}.datasets.transfer:transfer",
            "node",
            "GCC transfer: pretrain on other graphs (synthetic SBM/BA, karate, ...), evaluate on cora",
        ),
        DatasetSpec(
            "ego_networks",
            "graph",
            f"{_PKG}.datasets.ego_networks:ego_networks",
            "graph",
            "every node's 2-hop ego-network of a node-level dataset (source=cora), labelled with the "
            "centre's class: graph classification without TU files, 10-fold CV",
        ),
        # -- more datasets --
    ]

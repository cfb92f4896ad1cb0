"""sslcore registration hooks of the graph plugin (imports nothing heavy)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sslcore.plugins import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe

_PKG = "sslcore_graph"


#: the papers' Adam at a constant learning rate (AdamW without weight decay is Adam)
ADAM_CONSTANT = {"optimizer": "adamw", "weight_decay": 0.0, "warmup": 0.0, "min_lr_ratio": 1.0}
#: the trainer's default schedule, spelled out: AdamW, weight decay 1e-4, 5 % warmup, cosine to 0
ADAMW_COSINE = {"optimizer": "adamw", "weight_decay": 1e-4, "warmup": 0.05, "min_lr_ratio": 0.0}
CORA = "docs/benchmarks.md, 'Graph plugin methods on Cora' (benchmarks/graph_methods.py)"


def _task(name: str, factory: str, summary: str, default_encoder: str = "gcn", **fields: Any) -> TaskSpec:
    """A graph task ``name`` built by ``sslcore_graph.<factory>`` (``gcn`` by default)."""
    return TaskSpec(
        name, "graph", factory=f"{_PKG}.{factory}", summary=summary, default_encoder=default_encoder, **fields
    )


def _dataset(name: str, sample: str, summary: str, module: str = "", needs_root: bool = True) -> DatasetSpec:
    """A graph dataset ``name`` built by ``sslcore_graph.datasets.<module or name>:<name>``."""
    factory = f"{_PKG}.datasets.{module or name}:{name}"
    return DatasetSpec(name, "graph", factory, sample, summary, needs_root=needs_root)


def _adam_on_cora(epochs: int, lr: float, reference: str, **fields: Any) -> Recipe:
    """The papers' Adam at a constant ``lr`` for ``epochs`` on Cora (its default options)."""
    train = {"epochs": epochs, "lr": lr, **ADAM_CONSTANT}
    return Recipe(train=train, dataset="cora", reference=reference, **fields)


def _gin_tu(lr: float, reference: str) -> Recipe:
    """GraphCL / InfoGraph as benchmarked: their unsupervised TU settings (GIN 3 x 32, sum
    readout, batch 128, Adam, 20 epochs) on Cora's 2-hop ego-networks."""
    return Recipe(
        train={"epochs": 20, "lr": lr, "batch_size": 128, **ADAM_CONSTANT},
        encoder_options={"num_layers": 3, "hidden_dim": 32, "output_dim": 32},
        dataset="ego_networks",
        reference=reference,
    )


def _autoencoder(lr: float, reference: str) -> Recipe:
    """A graph auto-encoder as benchmarked: GCN 32 -> 16, dense reconstruction, 200 epochs,
    on Cora's raw features with 10 % of the edges held out (``link_split``: what the link
    protocol scores, so the run never sees them)."""
    return Recipe(
        train={"epochs": 200, "lr": lr, **ADAMW_COSINE},
        encoder_options={"output_dim": 32},
        task_options={"reconstruction": "dense"},
        dataset="cora",
        dataset_options={"link_split": True, "normalize_features": False},
        reference=reference,
    )


def _adversarial_autoencoder(
    reference: str, steps: int = 400, lr: float = 0.001, **task_options: Any
) -> Recipe:
    """ARGA / ARVGA as benchmarked: :func:`_autoencoder`'s set-up (GCN 32 -> 16, dense
    reconstruction, raw features, 10 % of the edges held out) with Adam at a constant ``lr``
    (the paper's 0.001) for every player, ``steps`` alternating steps."""
    return Recipe(
        train={"epochs": steps, "lr": lr, **ADAM_CONSTANT},
        encoder_options={"output_dim": 32},
        task_options={"reconstruction": "dense", **task_options},
        dataset="cora",
        dataset_options={"link_split": True, "normalize_features": False},
        reference=reference,
    )


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        # -- node-level contrastive tasks (DGI, GRACE, BGRL, MVGRL) --
        _task(
            "dgi",
            "tasks.dgi:DeepGraphInfomax",
            "Deep Graph Infomax: node-summary mutual information vs. a feature-shuffled graph",
            recipe=_adam_on_cora(
                200,
                0.001,
                "Velickovic et al. 2019: 1 GCN layer x 512, PReLU, Adam lr 0.001; a fixed 200 "
                "epochs instead of early stopping (chosen on the validation nodes). Measured: "
                f"{CORA}: 82.40 +- 1.15 % linear probe, 5 seeds (paper 82.3 +- 0.6)",
            ),
        ),
        _task(
            "grace",
            "tasks.grace:GRACE",
            "GRACE: NT-Xent between nodes of two views (edge dropping + feature masking), intra- and inter-view negatives",
            recipe=Recipe(
                train={
                    "epochs": 400,
                    "lr": 5e-4,
                    "optimizer": "adam",  # the reference's torch.optim.Adam: L2 added to the gradient
                    "weight_decay": 1e-5,
                    "warmup": 0.0,
                    "min_lr_ratio": 1.0,
                },
                encoder_options={"num_layers": 2, "hidden_dim": 512, "output_dim": 256, "activation": "relu"},
                task_options={
                    "proj_hidden_dim": 256,
                    "proj_dim": 256,
                    "drop_edge_1": 0.3,
                    "drop_edge_2": 0.4,
                    "mask_feature_1": 0.3,
                    "mask_feature_2": 0.4,
                    "temperature": 0.4,
                },
                dataset="cora",
                reference="Zhu et al. 2020 with the public-split hyper-parameters of DGL's GRACE example "
                "(the paper's random-split ones do poorly there): GCN 512 -> 256, projection 256, edge "
                "dropping 0.3 / 0.4, feature masking 0.3 / 0.4, tau 0.4, Adam lr 5e-4 with L2 1e-5, 400 "
                f"epochs. Measured: {CORA}: 82.68 +- 0.56 %, 5 seeds (DGL 82.2)",
            ),
        ),
        _task(
            "bgrl",
            "tasks.bgrl:BGRL",
            "BGRL: predict an EMA target encoder's node embeddings of the other view (negative cosine), no negatives",
            recipe=Recipe(
                train={"epochs": 500, "lr": 5e-4, "optimizer": "adamw", "weight_decay": 1e-5, "warmup": 0.05},
                encoder_options={
                    "num_layers": 2,
                    "hidden_dim": 512,
                    "output_dim": 256,
                    "activation": "prelu",
                    "norm": "batch_norm",
                },
                dataset="cora",
                reference="Thakoor et al. 2022 (no Cora recipe in the paper): GCN 512 -> 256 (the paper's "
                "encoder for Coauthor CS and WikiCS) with batch norm and PReLU, AdamW lr 5e-4, weight decay "
                "1e-5, warmup + cosine, 500 epochs (chosen on the validation nodes). Measured: "
                f"{CORA}: 81.38 +- 0.92 %, 5 seeds",
            ),
        ),
        _task(
            "mvgrl",
            "tasks.mvgrl:MVGRL",
            "MVGRL: cross-view node-graph mutual information between adjacency and PPR-diffusion views",
            recipe=_adam_on_cora(
                100,
                0.002,
                "Hassani & Khasahmadi 2020, Cora: PPR alpha 0.2, GCN 512 per view, Adam; a fixed 100 "
                "epochs on the full graph (the paper's 4 samples of 2000 nodes per step: "
                "--task-opt sample_size=2000) instead of early stopping (--patience 20 --epochs 3000: level "
                "on seeds 5-9, docs/graph.md), the diffusion cut to 64 entries "
                "per node on average (the reference keeps it dense) and aggregated unnormalised, as the "
                "reference; lr 0.002 instead of the paper's 0.001 (mean validation accuracy of seeds 0-3: "
                "82.05 against 81.50; 0.003: 81.65). Measured: "
                f"{CORA}: 83.44 +- 0.66 %, 5 seeds (paper 86.8 +- 0.5; lr 0.001: 82.98 +- 0.36)",
                task_options={"avg_degree": 64},
            ),
        ),
        # -- graph-level tasks (GCC, GraphCL, InfoGraph) --
        _task(
            "gcc",
            "tasks.gcc:GraphContrastiveCoding",
            "GCC: subgraph instance discrimination (RWR subgraphs, MoCo queue), structure only, transfers",
            default_encoder="gin",
            recipe=Recipe(
                train={"seconds": 180, "lr": 0.005, "grad_clip": 1.0, **ADAMW_COSINE},
                dataset="transfer",
                reference="Qiu et al. 2020: pretrained on other graphs (the transfer dataset: SBM, "
                "Barabasi-Albert, karate), default GIN, lr 0.005, gradient clipping 1, 180 s; Cora's nodes "
                f"embedded frozen. Measured: {CORA}: 20.03 +- 2.57 %, 3 seeds (near chance: local "
                "structure, all GCC sees, gives 15.9 % on Cora, whose topics follow position: docs/graph.md, "
                "'GraphCL and GCC on Cora')",
            ),
        ),
        _task(
            "graphcl",
            "tasks.graphcl:GraphCL",
            "GraphCL: NT-Xent between two augmented views of each graph (graph level)",
            default_encoder="gin",
            recipe=replace(
                _gin_tu(
                    0.01,
                    "You et al. 2020, unsupervised TU settings: GIN 3 x 32, sum readout, batch 128, "
                    "Adam lr 0.01, 20 epochs, augmentation ratio 0.2; on Cora's 2-hop ego-networks "
                    "(no TU data offline) attribute masking with zero rows (the reference's Cora "
                    "code; its TU noise rows swamp Cora's row-normalised features) and the centre "
                    "(node 0, what the label is about) never dropped or masked: docs/graph.md, "
                    f"'GraphCL and GCC on Cora'. Measured before the change ({CORA}): 55.5 %, 10-fold CV, 1 seed",
                ),
                task_options={"mask_token": "zero", "keep_centre": True},
            ),
        ),
        _task(
            "infograph",
            "tasks.infograph:InfoGraph",
            "InfoGraph: node-graph mutual information (JSD), other graphs of the batch as negatives",
            default_encoder="gin",
            recipe=_gin_tu(
                0.001,
                "Sun et al. 2020, unsupervised TU settings: GIN 3 x 32, sum readout, batch 128, "
                "Adam lr 0.001, 20 epochs; benchmarked on Cora's 2-hop ego-networks. Measured: "
                f"{CORA}: 79.87 %, 10-fold CV, 1 seed",
            ),
        ),
        # -- generative and adversarial tasks (GAE, VGAE, attribute masking, ARGA, ARVGA) --
        _task(
            "gae",
            "tasks.autoencoders:GraphAutoEncoder",
            "GAE: reconstruct edges with an inner-product decoder, negative sampling (link prediction)",
            recipe=_autoencoder(
                0.01,
                "Kipf & Welling 2016: GCN 32 -> 16, lr 0.01, 200 epochs, 85 / 5 / 10 link split. "
                f"Measured: {CORA}: link AUC 92.23 / AP 93.01 (paper 91.0 / 92.0)",
            ),
        ),
        _task(
            "vgae",
            "tasks.autoencoders:VariationalGraphAutoEncoder",
            "VGAE: variational graph auto-encoder (Gaussian latents, KL/N), inner-product decoder",
            recipe=_autoencoder(
                0.01,
                "Kipf & Welling 2016: GCN 32 -> 16, lr 0.01, 200 epochs, 85 / 5 / 10 link split. "
                f"Measured: {CORA}: link AUC 92.43 / AP 92.32 (paper 91.4 / 92.6)",
            ),
        ),
        _task(
            "attribute_masking",
            "tasks.attribute_masking:AttributeMasking",
            "attribute masking (Hu et al. 2020): predict the features of 15 % masked nodes",
            recipe=_adam_on_cora(
                100,
                0.001,
                "Hu et al. 2020: mask 15 % of the nodes, predict their raw binary features (BCE); "
                f"GCN 512, Adam lr 0.001, 100 epochs. Measured: {CORA}: 76.3 %, 1 seed",
                dataset_options={"normalize_features": False},  # raw binary bag-of-words -> BCE
            ),
        ),
        _task(
            "graphmae",
            "tasks.graphmae:GraphMAE",
            "GraphMAE: reconstruct masked node features (mask token, re-masked GNN decoder, scaled cosine error)",
            recipe=Recipe(
                encoder="gat",  # the paper's; any node encoder works (default_encoder gcn, as every node task)
                # the reference's torch.optim.Adam (L2 in the gradient) and cosine decay to 0, no warmup
                train={
                    "epochs": 1500,
                    "lr": 0.001,
                    "optimizer": "adam",
                    "weight_decay": 2e-4,
                    "warmup": 0.0,
                    "min_lr_ratio": 0.0,
                },
                encoder_options={
                    "num_layers": 2,
                    "hidden_dim": 512,
                    "output_dim": 512,
                    "heads": 4,
                    "activation": "prelu",
                    "input_dropout": 0.2,
                    "attention_dropout": 0.1,
                    "init": "xavier_normal",  # the reference's GAT initialisation (docs/graph.md)
                },
                task_options={
                    "mask_rate": 0.5,
                    "replace_rate": 0.05,
                    "gamma": 3.0,
                    "decoder": "gat",
                    "decoder_init": "xavier_normal",
                },
                dataset="cora",
                reference="Hou et al. 2022, Cora settings of the reference configs.yml: GAT 2 x 512 (4 heads), "
                "PReLU, input dropout 0.2, attention dropout 0.1, mask rate 0.5, replace rate 0.05, gamma 3, "
                "single-layer GAT decoder, Adam lr 0.001 with L2 2e-4, cosine decay, 1500 epochs, the "
                "reference code's xavier-normal GAT initialisation (paper 84.2 +- 0.4). Measured: "
                f"{CORA}: 83.04 +- 0.31 %, 5 seeds; with the paper's probe (--protocol linear_adam) 84.28 +- 0.13 %",
            ),
        ),
        _task(
            "context_prediction",
            "tasks.context_prediction:ContextPrediction",
            "context prediction (Hu et al. 2020): K-hop neighbourhood vs its surrounding context graph, other centres' contexts as negatives",
            recipe=Recipe(
                encoder="gin",  # the paper's; sum aggregation: a centre's K-hop embedding is its full-graph one
                train={"epochs": 300, "lr": 0.001, **ADAM_CONSTANT},
                encoder_options={
                    "num_layers": 2,
                    "hidden_dim": 256,
                    "output_dim": 256,
                    "jk": "last",
                    "activation": "prelu",
                },
                task_options={"num_centres": 64, "neg_samples": 1},
                dataset="cora",
                reference="Hu et al. 2020 (GIN, K = layers, r1 = K - 1, r2 = r1 + 3, one negative context, "
                "Adam lr 0.001), on Cora with a 2-layer GIN x 256 (PReLU, so inner products can be "
                "negative) and 64 centres per step, 300 steps (chosen on seed 0's validation nodes: "
                "65.8 / 66.4 / 71.8 / 70.0 / 68.4 % after 100 / 200 / 300 / 400 / 500). Measured: "
                f"{CORA}: 70.43 +- 1.76 %, 3 seeds (random init 56.57; 100 steps: 68.10 +- 2.89)",
            ),
        ),
        _task(
            "arga",
            "tasks.arga:AdversarialGraphAutoEncoder",
            "ARGA: graph auto-encoder + MLP discriminator pushing embeddings to a Gaussian prior",
            recipe=_adversarial_autoencoder(
                "Pan et al. 2018: GCN 32 -> 16, discriminator 16 -> 64 -> 32 -> 1 (the reference code's), "
                "Adam lr 0.001 for both players (the paper's), constant, 800 alternating steps "
                "(chosen on the validation edges: 200 steps at lr 0.005 with cosine decay gave val AUC "
                "86.95, 400 at 0.001 89.13; 400 / 800 / 1200 steps, mean val AUC and AP of seeds 0 and 1: "
                "89.35 / 88.06, 89.61 / 89.06, 89.15 / 89.34). Measured: "
                f"{CORA}: link AUC 92.08 / AP 92.26, 5 seeds (paper 92.4 / 93.2; 400 steps: 91.55 / 91.38)",
                steps=800,
            ),
        ),
        _task(
            "arvga",
            "tasks.arga:AdversarialVariationalGraphAutoEncoder",
            "ARVGA: variational graph auto-encoder + MLP discriminator against a Gaussian prior",
            recipe=_adversarial_autoencoder(
                "Pan et al. 2018: ARGA's set-up (GCN 32 -> 16 Gaussian, discriminator 16 -> 64 -> 32 -> 1) "
                "with the reference code's epoch and optimisers: 5 reconstruction-only steps with an Adam "
                "of their own, then one discriminator step and one generator step on the prior term alone "
                "(reconstruction_steps=5, separate_reconstruction=true), its 200 epochs (1200 trainer steps), "
                "Adam lr 0.001, constant. Chosen on the validation edges, mean val AUC / AP of seeds 0-4: "
                "90.25 / 90.70 (benchmarks/graph_arga_schedule.py, ref-optimisers-e200) against 88.90 / "
                "89.50 for one optimiser per player at lr 0.0005 for 1600 alternating steps, the previous "
                "recipe (test 91.21 / 91.59). Measured: "
                f"{CORA}: link AUC 91.88 / AP 92.72, 5 seeds (paper 92.4 / 92.6; the previous recipe 91.21 / 91.59)",
                steps=1200,
                reconstruction_steps=5,
                separate_reconstruction=True,
            ),
        ),
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(name, "graph", f"{_PKG}.encoders.{name}:build_{name}", summary)
        for name, summary in (
            ("gcn", "GCNConv layers + PReLU (DGI: 1 layer, 512 units); node embeddings"),
            ("gin", "GINConv (MLP) + BatchNorm + ReLU, 5 x 32 units, layers concatenated, sum readout"),
            ("gat", "GATConv layers (4 heads concatenated) + ELU, 2 x 256 units, mean readout"),
            ("sage", "GraphSAGE (SAGEConv, mean aggregation) + ReLU, 2 x 256 units, mean readout"),
            # -- more encoders --
        )
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    planetoid = "Planetoid citation graph, public split, row-normalised features"
    return [
        _dataset("cora", "node", f"Cora: {planetoid}", "planetoid"),
        _dataset("citeseer", "node", f"CiteSeer: {planetoid}", "planetoid"),
        _dataset("pubmed", "node", f"PubMed: {planetoid}", "planetoid"),
        _dataset(
            "sbm",
            "node",
            "synthetic stochastic-block-model graph (400 nodes, 4 classes, 1024 features), no files needed",
            needs_root=False,
        ),
        _dataset(
            "karate", "node", "Zachary's karate club (34 nodes, 4 classes), ships with PyG", needs_root=False
        ),
        _dataset(
            "tudataset",
            "graph",
            "TU graph classification (name=MUTAG, PROTEINS, IMDB-BINARY, ...), 10-fold CV; local files",
        ),
        _dataset(
            "transfer",
            "node",
            "GCC transfer: pretrain on other graphs (synthetic SBM/BA, karate, ...), evaluate on cora",
        ),
        _dataset(
            "ego_networks",
            "graph",
            "every node's 2-hop ego-network of a node-level dataset (source=cora), labelled with the "
            "centre's class: graph classification without TU files, 10-fold CV",
        ),
        # -- more datasets --
    ]


@hookimpl
def sslcore_raw_features(bundle: Any) -> Any:
    """The raw-feature baseline of a graph dataset: node features (a graph's mean for
    graph-level data, :func:`sslcore_graph.baselines.node_features`)."""
    if bundle.domain != "graph":
        return None
    from sslcore.compare.baselines import RawFeatures
    from sslcore_graph.baselines import node_features

    return RawFeatures(node_features)

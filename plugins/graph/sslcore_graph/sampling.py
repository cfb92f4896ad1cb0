r"""Uniform neighbour sampling for mini-batch node-level pretraining (Hamilton et al. 2017,
"Inductive Representation Learning on Large Graphs", NeurIPS; PyG's ``NeighborLoader``).

A batch of seed nodes :math:`S` grows hop by hop: at hop :math:`l` every node of the
frontier (the nodes first reached at hop :math:`l - 1`, the seeds at hop 1) draws
:math:`\min(\deg, k_l)` of its in-neighbours uniformly without replacement (all of them
when :math:`k_l = -1`), PyG's ``num_neighbors`` convention with ``subgraph_type=
"directional"``: the subgraph holds exactly the sampled edges ``source -> target``.

:func:`neighbor_sampler` returns PyG's ``torch_geometric.sampler.NeighborSampler`` when
``pyg-lib`` or ``torch-sparse`` is installed and :class:`UniformNeighborSampler`, the same
sampling in plain PyTorch, otherwise; :class:`NeighborSubgraphs` is the map-style dataset
of a graph's nodes that the trainer draws seed batches from. The randomness is torch's
global RNG, so ``seed_everything`` and DataLoader workers behave as for any other dataset.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch_geometric.typing
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data
from torch_geometric.loader.utils import filter_data
from torch_geometric.sampler import BaseSampler, NeighborSampler, NodeSamplerInput, SamplerOutput
from torch_geometric.sampler.neighbor_sampler import node_sample
from torch_geometric.sampler.utils import to_csc

from sslcore.errors import ConfigError
from sslcore_graph.checks import check_graph

#: node attributes of a labelled graph that pretraining must not see
LABEL_KEYS = ("y", "train_mask", "val_mask", "test_mask")


def check_fanout(fanout: Sequence[int], where: str = "fanout") -> tuple[int, ...]:
    """``fanout`` as a tuple: at least one hop, each entry ``-1`` (all neighbours) or ``>= 0``."""
    if isinstance(fanout, int | str) or len(fanout) == 0:
        raise ConfigError(
            f"{where} must be a non-empty list of neighbours per layer (e.g. [10, 10]), got {fanout!r}"
        )
    bad = [k for k in fanout if not isinstance(k, int) or isinstance(k, bool) or k < -1]
    if bad:
        raise ConfigError(
            f"{where} {list(fanout)}: every entry must be an int >= 0 or -1 (all neighbours), got {bad}"
        )
    return tuple(int(k) for k in fanout)


class UniformNeighborSampler(BaseSampler):
    r"""PyG's homogeneous ``NeighborSampler`` (``replace=False``,
    ``subgraph_type="directional"``) in plain PyTorch, vectorised over a CSC copy of the
    graph (``torch_geometric.sampler.utils.to_csc``).

    Per hop :math:`l` with fan-out :math:`k_l`, a frontier node :math:`v` of in-degree
    :math:`d_v` keeps all its in-edges when :math:`k_l = -1` or :math:`d_v \le k_l`, else a
    uniformly random :math:`k_l`-subset of them (one ``torch.randperm`` over the in-edges
    of all such nodes, stably grouped by node). Nodes are numbered in order of first
    appearance: the seeds ``0 .. B - 1`` in the order given, then each hop's new nodes in
    the order (frontier node, sampled edge), as ``pyg-lib``.

    :meth:`sample_from_nodes` returns a ``SamplerOutput`` with ``node`` ``[n]`` (global
    ids), ``row`` / ``col`` ``[m]`` (local source / target of each sampled edge), ``edge``
    ``[m]`` (positions in the CSC order; :attr:`edge_permutation` maps them to
    ``edge_index`` columns), ``num_sampled_nodes`` (``[B, new at hop 1, ...]``) and
    ``num_sampled_edges`` (per hop).

    Args:
        data: a graph with ``edge_index`` ``[2, E]`` and ``num_nodes``.
        num_neighbors: neighbours per hop, ``-1`` = all.
    """

    def __init__(self, data: Data, num_neighbors: Sequence[int]):
        self.num_nodes = int(data.num_nodes)
        self.num_neighbors = list(check_fanout(num_neighbors, "num_neighbors"))
        self.colptr, self.row, self.perm = to_csc(data, device="cpu")

    @property
    def edge_permutation(self) -> Tensor | None:
        return self.perm

    def sample_from_nodes(self, inputs: NodeSamplerInput) -> SamplerOutput:  # type: ignore[override]
        return node_sample(inputs, self._sample)  # sets metadata = (input_id, time)

    def sample_from_edges(self, inputs: object, neg_sampling: object = None) -> SamplerOutput:
        raise NotImplementedError("UniformNeighborSampler samples around seed nodes only")

    def _pick(self, start: Tensor, degree: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """CSC positions ``[m]`` of the sampled in-edges of frontier nodes whose in-edges start
        at ``start`` ``[F]``, and the frontier index ``[m]`` of each, grouped by frontier node."""
        take = degree if k < 0 else degree.clamp(max=k)
        owner = torch.repeat_interleave(torch.arange(len(degree)), take)
        first = torch.cumsum(take, 0) - take
        offset = torch.arange(len(owner)) - first[owner]  # 0 .. take - 1 within each node
        if k >= 0:
            big = degree > k  # these draw k of their in-edges at random
            if bool(big.any()):
                big_degree = degree[big]
                segment = torch.repeat_interleave(torch.arange(len(big_degree)), big_degree)
                shuffled = torch.randperm(len(segment))
                order = shuffled[torch.argsort(segment[shuffled], stable=True)]  # random within each node
                segment_start = torch.cumsum(big_degree, 0) - big_degree
                rank = torch.arange(len(order)) - segment_start[segment]  # segment is sorted
                chosen = order[rank < k] - segment_start.repeat_interleave(k)
                offset[big[owner]] = chosen
        return start[owner] + offset, owner

    def _sample(self, seed: Tensor, seed_time: Tensor | None = None, **kwargs: object) -> SamplerOutput:
        if seed_time is not None:
            raise ValueError("UniformNeighborSampler does not sample by time")
        seed = seed.to(torch.long).view(-1)
        if seed.numel() and (int(seed.min()) < 0 or int(seed.max()) >= self.num_nodes):
            raise ValueError(
                f"seed nodes {int(seed.min())}..{int(seed.max())} out of range for a graph of "
                f"{self.num_nodes} nodes"
            )
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)
        local[seed] = torch.arange(len(seed))
        if int((local >= 0).sum()) != len(seed):
            raise ValueError("the seed nodes of one batch must be distinct")
        nodes, rows, cols, edges = [seed], [], [], []
        num_sampled_nodes, num_sampled_edges = [len(seed)], []
        frontier, count = seed, len(seed)
        for k in self.num_neighbors:
            start = self.colptr[frontier]
            position, owner = self._pick(start, self.colptr[frontier + 1] - start, k)
            source = self.row[position]
            unseen = source[local[source] < 0]
            unique, inverse = torch.unique(unseen, return_inverse=True)
            first_seen = torch.full((len(unique),), len(unseen), dtype=torch.long)
            first_seen.scatter_reduce_(0, inverse, torch.arange(len(unseen)), "amin")
            new = unique[torch.argsort(first_seen)]  # in order of first appearance
            local[new] = torch.arange(count, count + len(new))
            count += len(new)
            rows.append(local[source])
            cols.append(local[frontier][owner])
            edges.append(position)
            nodes.append(new)
            num_sampled_nodes.append(len(new))
            num_sampled_edges.append(len(position))
            frontier = new
        return SamplerOutput(
            node=torch.cat(nodes),
            row=torch.cat(rows),
            col=torch.cat(cols),
            edge=torch.cat(edges),
            num_sampled_nodes=num_sampled_nodes,
            num_sampled_edges=num_sampled_edges,
        )


def neighbor_sampler(data: Data, fanout: Sequence[int]) -> BaseSampler:
    """PyG's ``NeighborSampler(data, num_neighbors=fanout)`` when a compiled backend
    (``pyg-lib`` / ``torch-sparse``) is installed, else :class:`UniformNeighborSampler`."""
    if torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE:
        return NeighborSampler(data, num_neighbors=list(fanout))
    return UniformNeighborSampler(data, fanout)


def sampled_subgraph(data: Data, sampler: BaseSampler, out: SamplerOutput) -> Data:
    """The ``Data`` that ``NeighborLoader`` builds from a ``SamplerOutput`` (its
    ``filter_fn``): the node and edge attributes of ``data`` restricted to the sample
    (``torch_geometric.loader.utils.filter_data``), local ``edge_index`` ``[2, m]``,
    ``n_id`` ``[n]``, ``e_id`` ``[m]``, ``num_sampled_nodes`` / ``num_sampled_edges``,
    ``input_id`` and ``batch_size`` (the seeds are nodes ``0 .. batch_size - 1``)."""
    perm = sampler.edge_permutation
    subgraph = filter_data(data, out.node, out.row, out.col, out.edge, perm)
    subgraph.n_id = out.node
    if out.edge is not None:
        edge = out.edge.to(torch.long)
        subgraph.e_id = perm[edge] if perm is not None else edge
    subgraph.num_sampled_nodes = out.num_sampled_nodes
    subgraph.num_sampled_edges = out.num_sampled_edges
    subgraph.input_id = out.metadata[0]
    subgraph.batch_size = int(out.metadata[0].size(0))
    return subgraph


class NeighborSubgraphs(Dataset[Data]):
    r"""The nodes of ``data`` as a map-style dataset of sampled subgraphs: ``len`` is
    ``num_nodes``; :meth:`__getitems__` ``(indices)`` (what ``DataLoader`` calls with a
    whole batch of indices) returns ``[subgraph]``, one subgraph sampled around the batch's
    seed nodes with ``fanout`` neighbours per hop (:func:`neighbor_sampler`,
    :func:`sampled_subgraph`); ``dataset[i]`` is the subgraph of seed ``i`` alone.

    Labels and split masks (``y``, ``*_mask``) are left out: pretraining never sees them.
    A seed without in-neighbours stays in its subgraph (with no edges of its own): it keeps
    its place among the seeds and gets its own embedding (self-loop / root term). Picklable,
    so DataLoader workers can sample.

    Args:
        data: graph with ``x`` ``[N, F]`` and ``edge_index`` ``[2, E]``.
        fanout: neighbours sampled per hop (= per message-passing layer), ``-1`` = all.
    """

    def __init__(self, data: Data, fanout: Sequence[int]):
        check_graph(data, "NeighborSubgraphs")
        self.fanout = check_fanout(fanout)
        self.data = copy.copy(data)  # shallow: the tensors are shared, not duplicated
        for key in LABEL_KEYS:
            if key in self.data:
                del self.data[key]
        self.sampler = neighbor_sampler(self.data, self.fanout)

    def __len__(self) -> int:
        return int(self.data.num_nodes)

    def __getitem__(self, index: int) -> Data:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int] | Tensor) -> list[Data]:
        seeds = torch.as_tensor(indices, dtype=torch.long).view(-1)
        out = self.sampler.sample_from_nodes(NodeSamplerInput(input_id=seeds, node=seeds))
        return [sampled_subgraph(self.data, self.sampler, out)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_nodes={len(self)}, fanout={list(self.fanout)})"

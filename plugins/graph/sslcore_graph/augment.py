r"""Graph augmentations: ``torch_geometric.transforms.BaseTransform`` s on a PyG ``Data``
that never modify their input, each drawing from its own seedable CPU ``torch.Generator``
(results moved to the graph's device). The edge transforms' ``undirected=None`` means
auto (``is_undirected``); table and invariants: plugins/graph/README.md, "Augmentations".
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import GDC, BaseTransform
from torch_geometric.utils import degree, is_undirected, to_undirected

GeneratorLike = torch.Generator | int | None


def make_generator(generator: GeneratorLike) -> torch.Generator:
    """A CPU ``torch.Generator``: the given one, one seeded with the given int, or one
    seeded from torch's global RNG (``None``)."""
    if isinstance(generator, torch.Generator):
        return generator
    seed = int(torch.randint(0, 2**62, ())) if generator is None else int(generator)
    return torch.Generator().manual_seed(seed)


def _check_rate(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")


def _undirected(data: Data, undirected: bool | None) -> bool:
    if undirected is None:
        return bool(is_undirected(data.edge_index, num_nodes=data.num_nodes))
    return undirected


class RandomTransform(BaseTransform):
    """Base of the random augmentations: holds ``self.generator`` (see the module docstring);
    shown with its rate ``self.p``."""

    p: float

    def __init__(self, generator: GeneratorLike = None):
        self.generator = make_generator(generator)

    def rand(self, *shape: int, device: Any = None) -> Tensor:
        return torch.rand(*shape, generator=self.generator).to(device)  # device-ok: seeded CPU stream

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class DropNodes(RandomTransform):
    r"""Node dropping (GraphCL): every node is removed with probability ``p``, with its
    edges; the kept nodes are relabelled ``0 .. n' - 1`` in their original order
    (``Data.subgraph``), so ``edge_index`` stays in range. At least one node is kept."""

    def __init__(self, p: float = 0.2, generator: GeneratorLike = None):
        _check_rate("DropNodes", p)
        super().__init__(generator)
        self.p = p

    def forward(self, data: Data) -> Data:
        n = int(data.num_nodes)
        keep = self.rand(n) >= self.p
        if not bool(keep.any()):
            keep[torch.randint(0, n, (), generator=self.generator)] = True
        return data.subgraph(keep.to(data.edge_index.device))


class DropEdges(RandomTransform):
    r"""Edge dropping (GRACE's "removing edges", ``torch_geometric.utils.dropout_edge``'s
    rule with a seedable generator): every edge is removed with probability ``p``. An
    undirected graph loses both directions of a pair together, so it stays undirected."""

    def __init__(self, p: float = 0.2, undirected: bool | None = None, generator: GeneratorLike = None):
        _check_rate("DropEdges", p)
        super().__init__(generator)
        self.p, self.undirected = p, undirected

    def forward(self, data: Data) -> Data:
        edge_index = data.edge_index
        if _undirected(data, self.undirected):
            # one draw per unordered pair {u, v}, shared by (u, v) and (v, u)
            low, high = edge_index.min(dim=0).values, edge_index.max(dim=0).values
            pairs, pair_of_edge = torch.unique(low * int(data.num_nodes) + high, return_inverse=True)
            keep = (self.rand(len(pairs), device=edge_index.device) >= self.p)[pair_of_edge]
        else:
            keep = self.rand(edge_index.shape[1], device=edge_index.device) >= self.p
        return data.edge_subgraph(keep)  # edge_weight / edge_attr follow


class AddEdges(RandomTransform):
    r"""Edge adding: ``round(p * num_edges)`` random non-edges (no self-loops, no
    duplicates, none already in the graph) are added; on an undirected graph they are
    added as ``round(p * num_edges / 2)`` pairs in both directions. New edges get
    ``edge_weight`` 1 and an all-zero ``edge_attr`` when the graph has those. Fewer are
    added when the graph has fewer non-edges."""

    def __init__(self, p: float = 0.2, undirected: bool | None = None, generator: GeneratorLike = None):
        if p < 0:
            raise ValueError(f"AddEdges: p must be >= 0, got {p}")
        super().__init__(generator)
        self.p, self.undirected = p, undirected

    def sample_non_edges(self, data: Data, count: int, undirected: bool) -> Tensor:
        """``[2, <= count]`` distinct node pairs that are not edges (``u < v`` if undirected)."""
        n, edge_index = int(data.num_nodes), data.edge_index.cpu()
        existing = set((edge_index[0] * n + edge_index[1]).tolist())
        chosen: dict[int, None] = {}
        max_new = n * (n - 1) // (2 if undirected else 1) - len(existing) // (2 if undirected else 1)
        count = max(0, min(count, max_new))
        for _ in range(100):
            if len(chosen) >= count:
                break
            cand = torch.randint(0, n, (2, 2 * (count - len(chosen)) + 8), generator=self.generator)
            if undirected:
                cand = torch.stack([cand.min(0).values, cand.max(0).values])
            for u, v in cand.t().tolist():
                key = u * n + v
                if u != v and key not in existing and key not in chosen:
                    chosen[key] = None
                    if len(chosen) == count:
                        break
        keys = torch.tensor(list(chosen), dtype=torch.long)
        return torch.stack([keys // n, keys % n]).to(data.edge_index.device)

    def forward(self, data: Data) -> Data:
        undirected = _undirected(data, self.undirected)
        num_edges = data.edge_index.shape[1]
        count = round(self.p * num_edges / (2 if undirected else 1))
        new = self.sample_non_edges(data, count, undirected)
        if undirected:
            new = torch.cat([new, new.flip(0)], dim=1)
        data.edge_index = torch.cat([data.edge_index, new], dim=1)  # data: BaseTransform's shallow copy
        for key in ("edge_weight", "edge_attr"):
            value = getattr(data, key, None)
            if isinstance(value, Tensor):
                fill = torch.ones if key == "edge_weight" else torch.zeros
                extra = fill((new.shape[1], *value.shape[1:]), dtype=value.dtype, device=value.device)
                data[key] = torch.cat([value, extra], dim=0)
        return data


class MaskFeatures(RandomTransform):
    r"""Feature masking (GRACE's "masking node features"): every feature *column* is
    zeroed with probability ``p``, the same columns for every node,
    :math:`\tilde X = X \odot (\mathbf 1\, m^\top)`, :math:`m_j \sim \mathrm{Bernoulli}(1 - p)`."""

    def __init__(self, p: float = 0.3, generator: GeneratorLike = None):
        _check_rate("MaskFeatures", p)
        super().__init__(generator)
        self.p = p

    def forward(self, data: Data) -> Data:
        keep = self.rand(data.x.shape[1], device=data.x.device) >= self.p
        data.x = data.x * keep.to(data.x.dtype)
        return data


class RandomWalkSubgraph(RandomTransform):
    r"""Random-walk subgraph: ``num_roots`` walkers start at random nodes and take
    ``walk_length`` uniform steps along out-edges (a walker on a node without out-edges
    stays); the subgraph induced by the visited nodes is returned, relabelled as in
    :class:`DropNodes`. (``torch_cluster.random_walk`` is not required; the walk is a few
    tensor operations on the CSR form of ``edge_index``.)"""

    def __init__(self, num_roots: int = 1, walk_length: int = 20, generator: GeneratorLike = None):
        if num_roots < 1 or walk_length < 0:
            raise ValueError(
                f"RandomWalkSubgraph: need num_roots >= 1 and walk_length >= 0, got {num_roots}, {walk_length}"
            )
        super().__init__(generator)
        self.num_roots, self.walk_length = num_roots, walk_length

    def walk(self, data: Data) -> Tensor:
        """Visited node ids (unique, sorted)."""
        n, edge_index = int(data.num_nodes), data.edge_index.cpu()
        order = torch.argsort(edge_index[0], stable=True)
        col = edge_index[1, order]
        deg = degree(edge_index[0], n, dtype=torch.long)
        rowptr = torch.cat([torch.zeros(1, dtype=torch.long), deg.cumsum(0)])
        cur = torch.randint(0, n, (self.num_roots,), generator=self.generator)
        visited = [cur]
        for _ in range(self.walk_length if len(col) else 0):
            d = deg[cur]
            step = (torch.rand(len(cur), generator=self.generator) * d).long().clamp(max=(d - 1).clamp(min=0))
            cur = torch.where(d > 0, col[(rowptr[cur] + step).clamp(max=max(len(col) - 1, 0))], cur)
            visited.append(cur)
        return torch.cat(visited).unique()

    def forward(self, data: Data) -> Data:
        return data.subgraph(self.walk(data).to(data.edge_index.device))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_roots={self.num_roots}, walk_length={self.walk_length})"


class Diffusion(BaseTransform):
    r"""Diffusion view through ``torch_geometric.transforms.GDC`` (Klicpera et al. 2019),
    as MVGRL's second view: with :math:`T = D^{-1/2}(A + I)D^{-1/2}`,

    - ``"ppr"``: :math:`S = \alpha\,(I - (1 - \alpha) T)^{-1}` (``alpha``, MVGRL: 0.2),
    - ``"heat"``: :math:`S = \exp(t\,(T - I))` (``t``, MVGRL: 5),

    sparsified (``sparsification``, GDC's ``sparsification_kwargs``; default: threshold
    keeping an average degree ``avg_degree``, every non-zero entry when that is at least
    the number of nodes) and normalised (``normalization``, GDC's
    ``normalization_out``; ``"sym"``). An undirected input gives exactly symmetric weights
    (an entry kept on one side of the threshold only is mirrored, pairs are averaged).
    Deterministic. The result is a weighted graph: ``edge_index`` ``[2, E']`` and
    ``edge_weight`` ``[E']`` (positive; the ``gcn`` encoder uses it), self-loops included;
    an input ``edge_weight`` is diffused, an ``edge_attr`` is dropped. Exact (dense
    ``[N, N]``), so meant for graphs of up to a few ten thousand nodes.
    """

    def __init__(
        self,
        method: Literal["ppr", "heat"] = "ppr",
        alpha: float = 0.2,
        t: float = 5.0,
        avg_degree: int = 64,
        normalization: str | None = "sym",
        sparsification: dict[str, Any] | None = None,
    ):
        if method not in ("ppr", "heat"):
            raise ValueError(f"Diffusion: method must be 'ppr' or 'heat', got {method!r}")
        self.method = method
        diffusion = {"method": "ppr", "alpha": alpha} if method == "ppr" else {"method": "heat", "t": t}

        def gdc(sparsify: dict[str, Any]) -> GDC:
            return GDC(
                self_loop_weight=1.0,
                normalization_in="sym",
                normalization_out=normalization,
                diffusion_kwargs=diffusion,
                sparsification_kwargs=sparsify,
                exact=True,
            )

        self.gdc = gdc(sparsification or {"method": "threshold", "avg_degree": avg_degree})
        #: an average degree of at least the node count keeps every non-zero entry: the dense diffusion
        self.avg_degree = None if sparsification else avg_degree
        self.dense_gdc = gdc({"method": "threshold", "eps": torch.finfo(torch.float32).tiny})  # > 0

    def forward(self, data: Data) -> Data:
        weight = getattr(data, "edge_weight", None)
        data.edge_attr = weight.float() if isinstance(weight, Tensor) else None
        undirected = is_undirected(data.edge_index, num_nodes=data.num_nodes)
        dense = self.avg_degree is not None and self.avg_degree >= data.num_nodes
        data = (self.dense_gdc if dense else self.gdc)(data)
        edge_index, edge_weight = data.edge_index, data.edge_attr
        if undirected:  # exact symmetry (the dense inverse / exponential is symmetric up to rounding)
            edge_index, edge_weight = to_undirected(edge_index, edge_weight, data.num_nodes, reduce="mean")
        data.edge_index, data.edge_weight, data.edge_attr = edge_index, edge_weight, None
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method}, {self.gdc.diffusion_kwargs})"

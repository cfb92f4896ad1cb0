"""What the CUDA mode measures: the items (timings, parity rows), the grid, the plan order and
the cost guesses of the time budget."""

from __future__ import annotations

from dataclasses import dataclass

DTYPE_NAMES = ("fp32", "bf16")
GPU_IMPLS = ("plain", "reference", "tiled", "triton", "flex", "auto", "lightly")
GPU_MATERIALISED = ("plain", "reference", "lightly")
STREAMED = ("tiled", "triton", "flex", "auto")
LOSSES = ("nt_xent", "info_nce", "info_nce_queue", "cross_view", "multi_positive")
#: parity modes: fp32 inputs with sslcore's default TF32 products / full fp32 products, bf16 inputs
PARITY_BOUNDS = {"tf32": 1e-3, "ieee": 1e-3, "bf16": 2e-2}
PARITY_TAU = {
    "nt_xent": 0.5,
    "info_nce": 0.07,
    "info_nce_queue": 0.07,
    "cross_view": 0.07,
    "multi_positive": 0.1,
}
#: a materialised implementation holds about this many [M, M] arrays at its peak (plain CE in
#: fp32 at 16384 pairs: 13.6 GiB for 4 GiB of logits, shared/gpu-measurements.md)
MATERIALISED_COPIES = 4

# budget model (seconds); ratios are time / floor, measured ones replace these guesses
#: shared/gpu-measurements.md (H200, floor at tf32 / bf16); triton, flex: what the kernels aim at
GUESS_RATIO = {
    "plain": {"fp32": 30.0, "bf16": 20.0},
    "reference": {"fp32": 40.0, "bf16": 40.0},
    "tiled": {"fp32": 50.0, "bf16": 100.0},
    "triton": {"fp32": 4.0, "bf16": 4.0},
    "flex": {"fp32": 10.0, "bf16": 5.0},
    "lightly": {"fp32": 200.0, "bf16": 300.0},
}
NOMINAL_FLOPS = {"tf32": 370e12, "bf16": 709e12}  # plan order only, before this run's GEMMs
CALLS = 12  # warm-up, memory pass and do_bench's calls
AUTOTUNE_CALLS = 30  # the autotuner's benchmark runs of a new shape, in calls of the whole loss
COMPILE_S = 40.0  # compiling one signature in this process (its prewarm did not finish)
#: a signature's first call with its kernels in the disk cache: the autotuner's benchmarks of
#: every candidate (at least ~0.15 s each), or dynamo tracing FlexAttention's graph
FIRST_CALL_S = {"triton": 3.0, "flex": 5.0}
PARITY_S = 2.0  # one parity row after its first call: float64 reference, 2 runs
ITEM_S = 1.0  # inputs, clean-up
MIN_CALL_S = 2e-4


def timing_key(impl: str, pairs: int, dim: int, dtype: str) -> str:
    return f"time/{impl}/{pairs}/{dim}/{dtype}"


def parity_key(backend: str, loss: str, prec: str, pairs: int, dim: int) -> str:
    return f"parity/{backend}/{loss}/{prec}/{pairs}/{dim}"


@dataclass(frozen=True)
class Timing:
    """NT-Xent forward + backward of one implementation at one size and dtype."""

    impl: str
    pairs: int
    dim: int
    dtype: str
    tier: int

    @property
    def key(self) -> str:
        return timing_key(self.impl, self.pairs, self.dim, self.dtype)

    @property
    def family(self) -> str:
        """The code that runs: ``auto`` is ``triton`` on CUDA."""
        return "triton" if self.impl == "auto" else self.impl


@dataclass(frozen=True)
class Parity:
    """One loss on one fused backend against float64, run twice."""

    loss: str
    backend: str
    prec: str  # "tf32" / "ieee" (fp32 inputs) or "bf16"
    pairs: int
    dim: int
    tier: int

    @property
    def key(self) -> str:
        return parity_key(self.backend, self.loss, self.prec, self.pairs, self.dim)

    @property
    def dtype(self) -> str:
        return "bf16" if self.prec == "bf16" else "fp32"

    @property
    def impl(self) -> str:
        return self.backend


Item = Timing | Parity


@dataclass(frozen=True)
class Grid:
    """What the CUDA mode measures, and the sizes the acceptance criteria name."""

    pairs: tuple[int, ...]  # every implementation
    streamed_pairs: tuple[int, ...]  # streamed implementations only
    dims: tuple[int, ...]
    dtypes: tuple[str, ...]
    impls: tuple[str, ...]
    parity_sizes: tuple[tuple[int, int], ...]
    parity_backends: tuple[str, ...]

    @property
    def big(self) -> int:
        return max(self.pairs)

    @property
    def small(self) -> tuple[int, ...]:
        return tuple(sorted(self.pairs))[:-1]

    @property
    def scale(self) -> int:
        return max(self.small, default=self.big)

    @property
    def base_d(self) -> int:
        return min(self.dims)

    @property
    def wide_d(self) -> int:
        return max(self.dims)

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(p for dt in self.dtypes for p in (("tf32", "ieee") if dt == "fp32" else ("bf16",)))


def floor_flops(pairs: int, dim: int) -> float:
    """``4 M^2 d``: the forward product and the one backward product of the self case."""
    m = 2 * pairs
    return 4.0 * m * m * dim


def rate_name(dtype: str) -> str:
    return "tf32" if dtype == "fp32" else "bf16"


def plan(grid: Grid) -> list[Item]:
    """Every measurement, in priority order: tiers 1-5 are what the acceptance needs (parity on
    triton, on flex; 65536 pairs; the small sizes against plain and lightly; d-scaling), tier 6
    the rest of the grid, cheapest first."""

    def parity(backend: str, tier: int) -> list[Item]:
        return [
            Parity(loss, backend, prec, n, d, tier)
            for n, d in grid.parity_sizes
            for prec in grid.precisions
            for loss in LOSSES
        ]

    def timing(
        impls: tuple[str, ...], pairs: tuple[int, ...], dims: tuple[int, ...], tier: int
    ) -> list[Item]:
        return [
            Timing(impl, n, d, dt, tier) for n in pairs for d in dims for dt in grid.dtypes for impl in impls
        ]

    base = (grid.base_d,)
    items = parity("triton", 1) + parity("flex", 2)
    items += timing(("triton", "auto"), (grid.big,), base, 3)
    items += timing(("auto", "plain", "lightly", "triton"), grid.small, base, 4)
    items += timing(("triton", "auto"), (grid.scale,), tuple(sorted(grid.dims)), 5)
    rest = timing(GPU_IMPLS, grid.pairs, grid.dims, 6) + timing(STREAMED, grid.streamed_pairs, grid.dims, 6)
    items += sorted(rest, key=guess_seconds)
    unique: dict[str, Item] = {}
    for i in items:
        if i.impl in (grid.parity_backends if isinstance(i, Parity) else grid.impls):
            unique.setdefault(i.key, i)
    return list(unique.values())


def guess_seconds(item: Item) -> float:
    """Plan-time cost of a timing (ordering the rest of the grid: cheapest first)."""
    assert isinstance(item, Timing)
    floor = floor_flops(item.pairs, item.dim) / NOMINAL_FLOPS[rate_name(item.dtype)]
    return floor * GUESS_RATIO[item.family][item.dtype]


def signature(item: Item) -> str | None:
    """What a first call compiles / autotunes (None: nothing): one per parity row, one per
    (kernels, size, dtype) of a fused timing."""
    if isinstance(item, Parity):  # FlexAttention ignores sslcore's fp32 switch: tf32 = ieee there
        prec = item.dtype if item.backend == "flex" else item.prec
        return parity_key(item.backend, item.loss, prec, item.pairs, item.dim)
    if item.family in ("triton", "flex"):
        return timing_key(item.family, item.pairs, item.dim, item.dtype)
    return None


def materialised_need(item: Item) -> int:
    """Bytes a materialised timing needs (0: streamed or parity)."""
    if not isinstance(item, Timing) or item.impl not in GPU_MATERIALISED:
        return 0
    element = 4 if item.impl == "reference" or item.dtype == "fp32" else 2
    return MATERIALISED_COPIES * (2 * item.pairs) ** 2 * element


def runs_on(impl: str, device: str) -> bool:
    """sslcore refuses ``flex`` for CPU tensors (FlexAttention has no CPU backward), so the smoke
    run reports those rows as unsupported."""
    return not (impl == "flex" and device == "cpu")

"""The issue's acceptance criteria, each judged PASS / FAIL / NOT MEASURED from the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fmt import fmt_ms, summary
from .plan import PARITY_BOUNDS, Parity, timing_key

if TYPE_CHECKING:
    from .bench import Bench

#: the criteria's limits: time / matmul floor, speed-up over lightly, extra bytes
ROOFLINE_FACTOR = 3.0
LIGHTLY_FACTOR = 5.0
MEMORY_LIMIT_BYTES = 1e9

NOT_RUN = ("skipped", "unsupported")


@dataclass
class Verdict:
    """One acceptance criterion: PASS only when every check was measured and passed."""

    criterion: str
    #: label, passed (None: not measured), evidence, closeness to the limit (passes show highest first)
    checks: list[tuple[str, bool | None, str, float]] = field(default_factory=list)

    def check(self, label: str, passed: bool | None, text: str, score: float = 0.0) -> None:
        self.checks.append((label, None if passed is None else bool(passed), text, score))

    def row(self, label: str, row: dict[str, Any] | None, passes: Callable[[dict[str, Any]], bool | None],
            text: Callable[[dict[str, Any]], str]) -> None:  # fmt: skip
        """Judge one measurement: not run -> not measured, failed to run -> FAIL, else ``passes``."""
        if row is None or row["status"] in NOT_RUN:
            self.check(label, None, "not measured")
        elif row["status"] != "ok":
            self.check(label, False, summary(row))
        else:
            self.check(label, passes(row), text(row), closeness(row))

    @property
    def status(self) -> str:
        passed = [c[1] for c in self.checks]
        return "FAIL" if False in passed else "NOT MEASURED" if None in passed or not passed else "PASS"

    def render(self, most: int = 8) -> str:
        """Failures first, then what was not measured, then passes (counted when many)."""
        order = sorted(self.checks, key=lambda c: ({False: 0, None: 1, True: 2}[c[1]], -c[3]))
        shown = [f"{label} {text}" for label, _, text, _ in order[:most]]
        if len(order) > most:
            counts = {
                k: sum(c[1] is v for c in order)
                for k, v in (("fail", False), ("not measured", None), ("pass", True))
            }
            shown.append("… " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + " in all")
        return f"- **{self.status}** — {self.criterion}: " + ("; ".join(shown) or "nothing planned")


def closeness(row: dict[str, Any]) -> float:
    """How near a measured row is to its limit, for ordering: time / floor, or error / bound."""
    return row["ratio"] if "ratio" in row else row.get("max_error", 0.0) / row.get("bound", 1.0)


def roofline_verdict(bench: Bench) -> Verdict:
    g = bench.grid
    v = Verdict(
        f"{g.big} pairs, d={g.base_d}: bf16 within {ROOFLINE_FACTOR:g}x of the bf16 matmul floor, "
        f"fp32 within {ROOFLINE_FACTOR:g}x of the tf32 floor"
    )
    for dt in g.dtypes:
        for impl in ("auto", "triton"):
            row = bench.results.get(timing_key(impl, g.big, g.base_d, dt))
            v.row(f"{impl} {dt}", row, lambda r: r["ratio"] <= ROOFLINE_FACTOR,
                  lambda r: f"{fmt_ms(r['ms'])} ms = {fmt_ms(r['ratio'])}x floor")  # fmt: skip
    return v


def memory_verdict(bench: Bench) -> Verdict:
    g = bench.grid
    v = Verdict(f"extra memory < 1 GB at {g.big} pairs, d={g.base_d}")
    for dt in g.dtypes:
        for impl in ("auto", "triton"):
            row = bench.results.get(timing_key(impl, g.big, g.base_d, dt))
            v.row(f"{impl} {dt}", row, lambda r: None if r["extra_bytes"] is None else r["extra_bytes"] < MEMORY_LIMIT_BYTES,
                  lambda r: "n/a" if r["extra_bytes"] is None else f"{r['extra_bytes'] / 2**20:.0f} MiB")  # fmt: skip
    return v


def pair_check(v: Verdict, label: str, rows: tuple[dict[str, Any] | None, dict[str, Any] | None],
               judge: Callable[[float, float], tuple[bool, str]]) -> None:  # fmt: skip
    """Judge two timings: both ok -> ``judge(ms0, ms1)``; either failed to run -> FAIL."""
    if all(r is not None and r["status"] == "ok" for r in rows):
        v.check(label, *judge(rows[0]["ms"], rows[1]["ms"]))  # type: ignore[index]
    elif any(r is not None and r["status"] in ("error", "oom") for r in rows):
        v.check(label, False, "; ".join(summary(r) for r in rows if r is not None))
    else:
        v.check(label, None, "not measured")


def versus_verdicts(bench: Bench) -> list[Verdict]:
    g = bench.grid
    sizes = ", ".join(map(str, g.small))
    plain = Verdict(f"at {sizes} pairs (d={g.base_d}) `auto` is faster than plain in the same dtype")
    lightly = Verdict(
        f"at {sizes} pairs (d={g.base_d}) `auto` is at least {LIGHTLY_FACTOR:g}x faster than lightly"
    )
    for n in g.small:
        for dt in g.dtypes:
            auto = bench.results.get(timing_key("auto", n, g.base_d, dt))
            for v, other, factor in ((plain, "plain", 1.0), (lightly, "lightly", LIGHTLY_FACTOR)):
                row = bench.results.get(timing_key(other, n, g.base_d, dt))
                if row is not None and row["status"] == "does not fit":
                    v.row(
                        f"{n} {dt}",
                        auto,
                        lambda r: True,
                        lambda r, o=other: f"auto {fmt_ms(r['ms'])} ms, {o} does not fit",
                    )
                    continue

                def judge(a: float, o: float, other: str = other, factor: float = factor) -> tuple[bool, str]:
                    ok = o / a >= factor if factor > 1 else a < o
                    return ok, f"auto {fmt_ms(a)} ms vs {other} {fmt_ms(o)} ms ({o / a:.2f}x)"

                pair_check(v, f"{n} {dt}", (auto, row), judge)
    return [plain, lightly]


def scaling_verdict(bench: Bench) -> Verdict:
    g = bench.grid
    limit = g.wide_d / g.base_d
    v = Verdict(
        f"time grows at most linearly from d={g.base_d} to d={g.wide_d} at {g.scale} pairs (ratio ≤ {limit:g})"
    )

    def judge(lo: float, hi: float) -> tuple[bool, str]:
        return hi / lo <= limit, f"{fmt_ms(lo)} → {fmt_ms(hi)} ms ({hi / lo:.2f}x)"

    for impl in ("triton", "auto"):
        for dt in g.dtypes:
            rows = tuple(bench.results.get(timing_key(impl, g.scale, d, dt)) for d in (g.base_d, g.wide_d))
            pair_check(v, f"{impl} {dt}", rows, judge)  # type: ignore[arg-type]
    return v


def parity_verdicts(bench: Bench, backend: str) -> list[Verdict]:
    bounds = ", ".join(f"{k} < {v:.0e}" for k, v in PARITY_BOUNDS.items())
    within = Verdict(f"`{backend}` parity against float64 (loss and every gradient; {bounds})")
    same = Verdict(f"`{backend}` reruns are bit-identical (loss and gradients)")
    for item in bench.items:
        if isinstance(item, Parity) and item.backend == backend:
            row = bench.results.get(item.key)
            label = f"{item.loss} {item.prec} {item.pairs}x{item.dim}"
            within.row(label, row, lambda r: r["within_bound"], lambda r: f"{r['max_error']:.1e}")
            same.row(
                label,
                row,
                lambda r: r["bit_identical"],
                lambda r: "identical" if r["bit_identical"] else "differs",
            )
    return [within, same]


def acceptance(bench: Bench) -> list[Verdict]:
    out = [roofline_verdict(bench), *versus_verdicts(bench), scaling_verdict(bench), memory_verdict(bench)]
    for backend in bench.grid.parity_backends:
        out += parity_verdicts(bench, backend)
    return out

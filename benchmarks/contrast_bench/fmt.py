"""Numbers and rows in words, shared by the log, the report and the acceptance verdicts."""

from __future__ import annotations

from typing import Any


def fmt_ms(ms: float) -> str:
    """Three significant digits without exponents (also for ratios)."""
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.3g}"


def fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{fmt_ms(n / size)} {unit}"
    return f"{n:.0f} B"


def summary(row: dict[str, Any]) -> str:
    status = row["status"]
    if status == "ok" and "ms" in row:
        mem = "" if row["extra_bytes"] is None else f", +{row['extra_bytes'] / 2**20:.0f} MiB"
        return f"{row['ms']:.3f} ms ({fmt_ms(row['ratio'])}x floor){mem}, first call {row['warmup_s']:.1f} s"
    if status == "ok":
        return (
            f"max rel. error {row['max_error']:.1e} (bound {row['bound']:.0e}), "
            f"bit-identical {row['bit_identical']}"
        )
    if status == "does not fit":
        return (
            f"does not fit (needs ~{fmt_bytes(row['need_bytes'])}, {fmt_bytes(row['capacity_bytes'])} free)"
        )
    return f"{status}: {row.get('error') or row.get('reason', '')}"

"""The CUDA mode's Markdown report: header, timings, memory, parity, acceptance, problems."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .acceptance import acceptance
from .fmt import fmt_bytes, fmt_ms
from .plan import GPU_IMPLS, Parity, Timing, floor_flops, rate_name, timing_key

if TYPE_CHECKING:
    from .bench import Bench

TIMING_TITLE = "## NT-Xent forward + backward (ms, median)"
MEMORY_TITLE = "## Extra peak memory (MiB)"
PARITY_TITLE = "## Parity against float64"
ACCEPTANCE_TITLE = "## Acceptance"
PROBLEMS_TITLE = "## Not measured, errors"
PARITY_NOTE = (
    "Relative errors are ||got − ref|| / ||ref|| against float64 (backend `reference`) on the same rounded\n"
    "inputs. tf32 / ieee: fp32 inputs under sslcore's `fp32_precision` (FlexAttention ignores that switch:\n"
    "both of its rows run the same fp32 graph); bf16: bf16 inputs. Each row ran twice (bit-identical column)."
)


def cell(row: dict[str, Any] | None) -> str:
    """A timing as a table cell: milliseconds or what happened instead."""
    if row is None:
        return "–"
    status = row["status"]
    if status == "ok":
        return fmt_ms(row["ms"])
    if status == "does not fit":
        return f"does not fit (needs ~{fmt_bytes(row['need_bytes'])})"
    return {"oom": "OOM", "error": "error", "unsupported": "n/a"}.get(status, status)


def memory_cell(row: dict[str, Any] | None) -> str:
    if row is None or row["status"] != "ok":
        return cell(row) if row is not None and row["status"] != "ok" else "–"
    return "n/a" if row["extra_bytes"] is None else f"{row['extra_bytes'] / 2**20:.0f}"


def ratio_cell(row: dict[str, Any] | None) -> str:
    return fmt_ms(row["ratio"]) if row is not None and row["status"] == "ok" else "–"


def table_sizes(bench: Bench) -> list[tuple[int, int, str]]:
    keys = {(i.pairs, i.dim, i.dtype) for i in bench.items if isinstance(i, Timing)}
    return sorted(keys, key=lambda k: (k[0], k[1], bench.grid.dtypes.index(k[2])))


def timing_rows(bench: Bench) -> list[str]:
    impls = [i for i in GPU_IMPLS if i in bench.grid.impls]
    head = [
        "pairs",
        "d",
        "dtype",
        *impls,
        "triton × floor",
        "auto × floor",
        "extra memory auto (MiB)",
        "floor ms",
    ]
    lines = [
        TIMING_TITLE,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * 2 + "---|" + "---:|" * (len(head) - 3),
    ]
    for n, d, dt in table_sizes(bench):
        rows = {impl: bench.results.get(timing_key(impl, n, d, dt)) for impl in GPU_IMPLS}
        rate = bench.meta.get("matmul_flops", {}).get(rate_name(dt))
        cells = [cell(rows[i]) for i in impls]
        cells += [ratio_cell(rows["triton"]), ratio_cell(rows["auto"]), memory_cell(rows["auto"])]
        cells.append(fmt_ms(1e3 * floor_flops(n, d) / rate) if rate else "–")
        lines.append(f"| {n} | {d} | {dt} | " + " | ".join(cells) + " |")
    return lines


def memory_rows(bench: Bench) -> list[str]:
    impls = [i for i in GPU_IMPLS if i in bench.grid.impls]
    lines = [MEMORY_TITLE, "", "| pairs | d | dtype | " + " | ".join(impls) + " |"]
    lines.append("|---:|---:|---|" + "---:|" * len(impls))
    for n, d, dt in table_sizes(bench):
        cells = [memory_cell(bench.results.get(timing_key(i, n, d, dt))) for i in impls]
        lines.append(f"| {n} | {d} | {dt} | " + " | ".join(cells) + " |")
    return lines


def parity_rows(bench: Bench) -> list[str]:
    head = "| backend | loss | precision | pairs | d | loss err | worst gradient err | τ grad err | bound | within | bit-identical |"
    lines = [PARITY_TITLE, "", head, "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for item in bench.items:
        row = bench.results.get(item.key)
        if not isinstance(item, Parity) or row is None:
            continue
        start = f"| {item.backend} | {item.loss} | {item.prec} | {item.pairs} | {item.dim} |"
        if row["status"] != "ok":
            lines.append(f"{start} {row['status']} | | | | | | |")
            continue
        grads = {k: v for k, v in row["errors"].items() if k.startswith("grad") and k != "grad tau"}
        worst = max(grads.items(), key=lambda kv: kv[1]) if grads else None
        worst_s = f"{worst[1]:.1e} ({worst[0][5:]})" if worst else "–"
        tau = row["errors"].get("grad tau")
        cells = [f"{row['errors']['loss']:.1e}", worst_s, f"{tau:.1e}" if tau is not None else "–"]
        cells += [f"{row['bound']:.0e}", "yes" if row["within_bound"] else "**NO**"]
        cells += ["yes" if row["bit_identical"] else "**NO**"]
        lines.append(f"{start} " + " | ".join(cells) + " |")
    return [*lines, "", PARITY_NOTE]


def header_rows(bench: Bench) -> list[str]:
    m = bench.meta
    rates = m.get("matmul_flops", {})
    rate_s = ", ".join(f"{k} {v / 1e12:.1f}" for k, v in rates.items())
    where = m.get("gpu", "CPU smoke run (interpreted Triton, sizes are not the issue's)")
    counts: dict[str, int] = {}
    for r in bench.results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    pre = m.get("prewarm")
    lines = [
        f"# Contrast kernels on {where}",
        "",
        f"- torch {m['torch']} (CUDA {m['cuda']}), triton {m['triton']}, lightly {m['lightly']}, Python {m['python']}",
        f"- matmul rates measured in this run (TFLOP/s, {bench.args.gemm_size}³): {rate_s or 'not yet'}",
        f"- `auto` resolves to `{m['auto_backend']}`; torch fp32 matmul precision (plain, reference, lightly): "
        f"`{m['torch_fp32_matmul_precision']}`",
        f"- budget {m['budget_s']:.0f} s, elapsed {m.get('elapsed_s', 0):.0f} s, complete: {m['complete']}; "
        f"rows: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}",
        f"- command: `{m['command']}` (git {m['git']}, started {m['started']}, restarts {m.get('restarts', 0)})",
    ]
    if pre:
        lines.append(
            f"- prewarm: {len(pre['done'])} of {pre['tasks']} signatures compiled in {pre['seconds']:.0f} s, "
            f"{len(pre['failed'])} failed"
        )
    return lines


def problem_rows(bench: Bench) -> list[str]:
    lines = [PROBLEMS_TITLE, ""]
    for key, r in bench.results.items():
        if r["status"] in ("error", "oom", "skipped", "unsupported"):
            lines.append(f"- `{key}`: {r['status']}: {r.get('error') or r.get('reason', '')}")
    return lines + (["- none"] if len(lines) == 2 else [])


def markdown(bench: Bench) -> str:
    parts = [header_rows(bench), timing_rows(bench), memory_rows(bench), parity_rows(bench)]
    parts += [acceptance_rows(bench), problem_rows(bench)]
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def acceptance_rows(bench: Bench) -> list[str]:
    return [ACCEPTANCE_TITLE, "", *(v.render() for v in acceptance(bench))]

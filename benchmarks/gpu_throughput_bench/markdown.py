"""The Markdown tables of a ``gpu_throughput`` record (written beside its JSON)."""

from __future__ import annotations

from typing import Any

TRAINER_FAMILIES = ("simclr_small_cnn", "simclr_resnet18", "masked", "mlm", "grace")
SECTIONS = (
    "## Matrix-product ceilings",
    "## Training throughput",
    "## DGI on Cora vs PyG's example",
    "## Probing vs training",
    "## Acceptance (issue 22)",
)


def num(value: Any, fmt: str = ",.1f") -> str:
    return "-" if value is None else format(value, fmt)


def ceilings_table(ceilings: dict[str, Any]) -> list[str]:
    rows = [SECTIONS[0], "", f"{ceilings.get('n')}^3 products on {ceilings.get('device')}:", ""]
    rows += ["| dtype | TFLOP/s |", "|---|---:|"]
    rows += [f"| {k} | {num(ceilings.get(k), '.4g')} |" for k in ("bf16", "tf32", "fp32") if k in ceilings]
    return rows


def memory_of(out: dict[str, Any]) -> str:
    if "peak_gpu_memory_mb" in out:
        return f"{out['peak_gpu_memory_mb']:,.0f} (GPU)"
    return f"{out.get('peak_rss_mb_process', float('nan')):,.0f} (RSS)"


def trainer_row(name: str, out: dict[str, Any]) -> str:
    flops = out.get("flops_per_step")
    fraction = out.get("fraction_of_gemm")
    steps = f"{num(out['step_ms_median'], '.2f')} ({num(out['step_ms_min'], '.2f')}-{num(out['step_ms_max'], '.2f')})"
    cells = [
        name,
        out["dataset"],
        f"{out['task']} / {out['encoder']}",
        str(out["batch_size"]),
        out["precision"],
        num(out["samples_per_s"]),
        num(out["steps_per_s"], ".2f"),
        steps,
        memory_of(out),
        num(None if flops is None else flops / 1e9),
        num(out.get("achieved_tflops"), ".3g"),
        num(None if fraction is None else 100 * fraction, ".1f"),
    ]
    return "| " + " | ".join(cells) + " |"


def trainer_table(families: dict[str, Any]) -> list[str]:
    rows = [
        SECTIONS[1],
        "",
        "Samples are images, sequences or (graphs) epochs; medians over the trainer's log windows "
        "after the first (start-up); FLOPs/step by `sslcore.compare.flops` (matmuls and convolutions); "
        "% of GEMM: achieved FLOP/s over the bf16 (CUDA) or fp32 (CPU) matrix-product rate above.",
        "",
        "| family | data | task / encoder | batch | precision | samples/s | steps/s | "
        "step ms median (min-max) | peak MB | GFLOP/step | TFLOP/s | % of GEMM |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for name in TRAINER_FAMILIES:
        out = families.get(name)
        if out and out.get("status") == "ok":
            rows.append(trainer_row(name, out))
            if out.get("note"):
                notes.append(f"{name}: {out['note']}.")
    return rows + ([""] + notes if notes else [])


def dgi_table(out: dict[str, Any] | None) -> list[str]:
    rows = [
        SECTIONS[2],
        "",
        "| device | threads | sslcore ms/epoch | sslcore fp32 ms/epoch | PyG example ms/epoch | ratio | "
        "epochs x repeats |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for device in ("cuda", "cpu"):
        c = (out or {}).get(device)
        if c:
            ms = c["epoch_ms_median"]
            rows.append(
                f"| {device} ({c['sslcore_precision']}) | {c['threads']} | {ms['sslcore']:.2f} | "
                f"{num(ms.get('sslcore_fp32'), '.2f')} | {ms['pyg_example']:.2f} | {c['ratio']:.2f} | "
                f"{c['epochs']} x {c['repeats']} |"
            )
    return rows


def probe_table(out: dict[str, Any] | None) -> list[str]:
    rows = [SECTIONS[3], ""]
    if not out:
        return rows + ["Not measured."]
    rows += [
        f"{out['rows']:,} rows, {out['encoder']}, on {out['device']}; seconds are medians.",
        "",
        "| what | solver | embed s | probe s | geometry s | test acc. % | C |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    parts = {
        "encoder_probe": out["solver_on_device"],
        "raw_probe": out["solver_on_device"],
        "encoder_probe_torch_cpu": "torch (CPU)",
        "encoder_probe_sklearn_cpu": "sklearn (CPU)",
    }
    for key, solver in parts.items():
        if key in out:
            p = out[key]
            rows.append(
                f"| {key} | {solver} | {p['embed_s']['median']:.2f} | {p['probe_s']['median']:.2f} | "
                f"{p['geometry_s']['median']:.2f} | {p['test_accuracy']:.2f} | {p['C']} |"
            )
    budgets = ", ".join(f"{b:.0f}" for b in out["suite_train_s_per_run"])
    rows += [
        "",
        f"One suite run probes for {out['per_run_probe_s']:.1f} s (pretrained + random init + raw pixels) "
        f"and trains for {budgets} s: probing / training = {out['probe_over_train']:.2f}.",
    ]
    return rows


def acceptance_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [SECTIONS[4], "", "| criterion | verdict | figure | command |", "|---|---|---|---|"]
    lines += [f"| {r['text']} | {r['verdict']} | {r['measured'] or '-'} | `{r['command']}` |" for r in rows]
    return lines


def problems(families: dict[str, Any]) -> list[str]:
    bad = [(n, o) for n, o in families.items() if o.get("status") != "ok"]
    if not bad:
        return []
    return ["## Not run or failed", ""] + [f"- {n}: {o['status']}: {o.get('reason', '')}" for n, o in bad]


def render(record: dict[str, Any]) -> str:
    header = [
        "# GPU engine throughput (issue 22)",
        "",
        f"Device: {record['device_name']}; command: `{record['command']}`; created {record['created']}.",
        "",
    ]
    fams = record["families"]
    blocks = [
        ceilings_table(record.get("ceilings", {})),
        trainer_table(fams),
        dgi_table(fams.get("dgi") if fams.get("dgi", {}).get("status") == "ok" else None),
        probe_table(fams.get("probe") if fams.get("probe", {}).get("status") == "ok" else None),
        acceptance_table(record["acceptance"]),
        problems(fams),
    ]
    return "\n".join(header + [line for block in blocks if block for line in [*block, ""]])

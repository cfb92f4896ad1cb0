"""The ``sslcore`` command line."""

from __future__ import annotations

import argparse
import ast
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sslcore.errors import ConfigError, SSLCoreError


def parse_assignments(pairs: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as Python literals when possible;
    ``true``/``false`` in any case are booleans, not the always-true strings)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects key=value, got {pair!r}")
        if raw.lower() in ("true", "false"):
            out[key] = raw.lower() == "true"
            continue
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_plugins(args: argparse.Namespace) -> int:
    from sslcore.plugins import get_registry

    reg = get_registry()
    if not reg.plugins and not reg.failures:
        print("no sslcore plugins installed (pip install sslcore-vision sslcore-nlp sslcore-graph)")
    for info in reg.plugins.values():
        print(f"{info.name}  ({info.distribution} {info.version})")
        for kind in ("tasks", "encoders", "datasets"):
            names = getattr(info, kind)
            print(f"  {kind:9s} {', '.join(names) if names else '-'}")
    for failure in reg.failures:
        print(f"FAILED {failure.name}  ({failure.distribution} {failure.version}): {failure.error}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from sslcore.plugins import get_registry

    reg = get_registry()
    rows = [
        [q, s.domain, str(s.paradigm), s.family or "-", s.negatives, s.summary]
        for q, s in sorted(reg.specs("task", args.domain).items())
    ]
    print(_table(rows, ["task", "domain", "paradigm", "family", "negatives", "summary"]))
    return 0


def cmd_list(kind: str):
    def run(args: argparse.Namespace) -> int:
        from sslcore.plugins import get_registry

        specs = get_registry().specs(kind, args.domain)
        extra = (
            (lambda s: [s.sample, "no" if not s.needs_root else "yes"])
            if kind == "dataset"
            else (lambda s: [])
        )
        header = [kind, "domain", *(["sample", "needs root"] if kind == "dataset" else []), "summary"]
        rows = [[q, s.domain, *extra(s), s.summary] for q, s in sorted(specs.items())]
        print(_table(rows, header))
        return 0

    return run


def cmd_pretrain(args: argparse.Namespace) -> int:
    from sslcore.runs import pretrain

    train = {k: v for k, v in vars(args).items() if k in _TRAIN_FLAGS and v is not None}
    if args.no_progress:
        train["progress_bar"] = False
    for flag in ("sync_batchnorm", "tensorboard", "compile"):
        if getattr(args, flag):
            train[flag] = True
    if not any(k in train for k in ("epochs", "steps", "seconds")):
        train["epochs"] = 1
    result = pretrain(
        args.task,
        args.dataset,
        args.output,
        data_root=args.data_root,
        encoder=args.encoder,
        task_options=parse_assignments(args.task_opt, "--task-opt"),
        encoder_options=parse_assignments(args.encoder_opt, "--encoder-opt"),
        dataset_options=parse_assignments(args.dataset_opt, "--dataset-opt"),
        resume=args.resume,
        **train,
    )
    from sslcore.engine import distributed as ddp

    if ddp.env_rank() != 0:  # under torchrun only rank 0 reports
        return 0 if result.interrupted is None else 128 + int(signal.SIGTERM)
    if result.interrupted is not None:
        print(
            f"interrupted ({result.interrupted}) at step {result.steps}; checkpoint {result.checkpoint}; "
            f"continue with the same command and --resume",
            file=sys.stderr,
        )
        signum = getattr(signal, result.interrupted, signal.SIGTERM)
        return 128 + int(signum)
    if args.resume and result.new_steps == 0:
        print(
            f"{args.output} had already finished ({result.steps} steps, final loss "
            f"{result.final_loss:.4f}); nothing was trained. Checkpoint {result.checkpoint}"
        )
        return 0
    print(
        f"trained {result.steps} steps ({result.epochs:.2f} epochs, {result.samples} samples) in "
        f"{result.seconds:.1f}s; final loss {result.final_loss:.4f}; checkpoint {result.checkpoint}"
        + (f"; {result.skipped_steps} non-finite steps skipped" if result.skipped_steps else "")
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sslcore.export import export_run

    written = export_run(args.run_dir, args.out_dir, data_root=args.data_root)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sslcore.runs import evaluate

    record = evaluate(
        args.run_dir,
        args.protocol,
        data_root=args.data_root,
        random_init=args.random_init,
        device=args.device,
        dataset_options=parse_assignments(args.dataset_opt, "--dataset-opt"),
        **parse_assignments(args.protocol_opt, "--protocol-opt"),
    )
    which = "random-init" if args.random_init else "pretrained"
    scores = [f"test accuracy: {100 * record['test_accuracy']:.2f}%"]
    scores += [
        f"{k.removeprefix('test_').upper()}: {100 * record[k]:.2f}"
        for k in ("test_auc", "test_ap")
        if k in record
    ]
    print(f"{args.protocol} probe ({which}) " + ", ".join(scores))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sslcore.compare import load_grid, run_grid, suite_grid
    from sslcore.compare.report import failures_table, markdown_table, summarise, write_report
    from sslcore.compare.runner import GridInterrupted

    if (args.grid is None) == (args.suite is None):
        raise ConfigError("give a grid file or --suite NAME (quick, standard), not both")
    grid = suite_grid(args.suite) if args.suite else load_grid(args.grid)
    if args.data_root:
        grid = grid.with_data_root(args.data_root)
    output = Path(args.output or f"runs/compare-{args.suite or Path(args.grid).stem}")
    try:
        records = run_grid(grid, output)
    except GridInterrupted as exc:
        print(f"sslcore: {exc}", file=sys.stderr)
        return 128 + int(getattr(signal, exc.signal_name, signal.SIGINT))
    paths = write_report(grid, records, output)
    print("\n" + markdown_table(summarise(records)))
    failures = failures_table(records)
    if failures:
        print("\nFailed runs:\n" + failures)
    print(f"\nreport: {paths['markdown']} (with report.csv, report.json and PNG plots)")
    return 1 if failures else 0


_TRAIN_FLAGS = {
    "epochs": float,
    "steps": int,
    "seconds": float,
    "batch_size": int,
    "lr": float,
    "optimizer": str,
    "weight_decay": float,
    "warmup": float,
    "grad_clip": float,
    "precision": str,
    "seed": int,
    "num_workers": int,
    "threads": int,
    "min_lr_ratio": float,
    "device": str,
    "log_every": int,
    "checkpoint_every": int,
    "keep_checkpoints": int,
    "nan_policy": str,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslcore", description="Self-supervised learning across domains.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list installed plugins, what each registers, and failures")
    p.set_defaults(func=cmd_plugins)
    p = sub.add_parser("tasks", help="taxonomy table of installed pretext tasks")
    p.add_argument("--domain")
    p.set_defaults(func=cmd_tasks)
    for kind in ("encoder", "dataset"):
        p = sub.add_parser(f"{kind}s", help=f"list installed {kind}s")
        p.add_argument("--domain")
        p.set_defaults(func=cmd_list(kind))

    p = sub.add_parser("pretrain", help="pretrain a task on a dataset into a run folder")
    p.add_argument("task")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root")
    p.add_argument("--output", required=True)
    p.add_argument("--encoder")
    for flag, typ in _TRAIN_FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), type=typ, dest=flag)
    p.add_argument("--task-opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--encoder-opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--dataset-opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--sync-batchnorm", action="store_true", help="SyncBatchNorm under torchrun (CUDA)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard events")
    p.add_argument("--compile", action="store_true", help="torch.compile the task's losses (GPU speed-up)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "export", help="export a run's encoder as safetensors + JSON sidecar (+ transformers directory)"
    )
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--data-root", help="override the data root stored in the run")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "evaluate", help="evaluate a run's embeddings (frozen or fine-tuned); prints test accuracy"
    )
    p.add_argument("run_dir")
    p.add_argument("--protocol", default="linear", help="linear, knn, link or finetune")
    for flag, text in (
        ("--protocol-opt", "a protocol option (e.g. for finetune: lrs=[1e-4,3e-4] epochs=4 batch_size=32)"),
        (
            "--dataset-opt",
            "override a dataset option of the run (e.g. probe=mr: another labelled set, same tokenizer)",
        ),
    ):
        p.add_argument(flag, action="append", metavar="KEY=VALUE", help=text)
    p.add_argument("--data-root", help="override the data root stored in the run")
    p.add_argument("--random-init", action="store_true", help="evaluate the encoder before pretraining")
    p.add_argument(
        "--device", default="auto", help="where embeddings are computed and probes fit: auto, cpu, cuda[:N]"
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "compare",
        help="pretrain and probe a grid of tasks x encoders x datasets x seeds; writes a report",
        description="Run a comparison grid (a TOML/YAML file, or a suite that ships with sslcore). "
        "Finished runs are kept in OUTPUT/results.jsonl: rerunning skips them and resumes an "
        "interrupted run.",
    )
    p.add_argument("grid", nargs="?", help="grid file (.toml, or .yaml with PyYAML)")
    p.add_argument("--suite", help="a grid that ships with sslcore: quick (no data needed) or standard")
    p.add_argument("--output", help="report and run folder (default runs/compare-<name>)")
    p.add_argument("--data-root", help="data folder for every run (overrides the grid's data_root)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("demo", help="the quick cross-domain comparison (same as: compare --suite quick)")
    p.add_argument("--output", default=None)
    p.set_defaults(func=cmd_compare, grid=None, suite="quick", data_root=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training: nothing is recorded
        print("sslcore: interrupted; results written so far are kept, rerun to continue", file=sys.stderr)
        return 128 + int(signal.SIGINT)
    except SSLCoreError as exc:
        print(f"sslcore: error: {exc}", file=sys.stderr)
        if os.environ.get("SSLCORE_DEBUG"):
            raise
        return 2


if __name__ == "__main__":
    sys.exit(main())

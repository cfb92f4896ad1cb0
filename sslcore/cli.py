"""The ``sslcore`` command line. ``sslcore pretrain``'s training flags are generated from
:class:`sslcore.engine.TrainConfig` (:func:`add_train_arguments`); flags not given stay out of
the namespace (``argparse.SUPPRESS``), so only what the user gave reaches
:func:`sslcore.runs.pretrain` and the task's recipe supplies the rest."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import signal
import sys
import types
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from sslcore.engine.config import BUDGET_KEYS, FIELDS, GROUPS, HINTS
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
    if getattr(args, "name", None):  # one task's card: taxonomy, options, recipe
        from sslcore.cards import task_card

        print(task_card(reg, args.name))
        return 0
    rows, unreadable = [], []
    for q, s in sorted(reg.specs("task", args.domain).items()):
        try:  # the taxonomy is read from the task class: a plugin that cannot import it
            rows.append([q, s.domain, str(s.paradigm), s.family or "-", s.negatives, s.summary])
        except SSLCoreError as exc:  # is listed, not fatal to the table
            rows.append([q, s.domain, "?", "?", "?", s.summary])
            unreadable.append(str(exc))
    print(_table(rows, ["task", "domain", "paradigm", "family", "negatives", "summary"]))
    for problem in unreadable:
        print(f"sslcore: {problem}", file=sys.stderr)
    return 0


def cmd_list(kind: str):
    def run(args: argparse.Namespace) -> int:
        from sslcore.plugins import get_registry

        dataset = kind == "dataset"
        header = [kind, "domain", *(["sample", "needs root"] if dataset else []), "summary"]
        rows = [
            [q, s.domain, *([s.sample, "yes" if s.needs_root else "no"] if dataset else []), s.summary]
            for q, s in sorted(get_registry().specs(kind, args.domain).items())
        ]
        print(_table(rows, header))
        return 0

    return run


def cmd_pretrain(args: argparse.Namespace) -> int:
    from sslcore.runs import pretrain

    train = train_options(args)
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
        + (f"; {result.stopped_early}" if result.stopped_early else "")
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


#: more spellings of a training flag (``--no-progress`` is what the docs and scripts use)
_ALIASES = {"progress_bar": ("--progress",)}
RECIPE_DEFAULT = "the task's recipe, see `sslcore tasks NAME`"


def _value_type(hint: Any) -> tuple[Any, bool]:
    """A field's hint without its ranges and ``None``: ``bool``, ``int``, ``float``, ``str``
    or a ``Literal``; and whether ``None`` is allowed."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return hint, optional


def _or_none(convert: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = f"{convert.__name__} (or 'none')"  # argparse: "invalid float (or 'none') value"
    return parse


def default_text(field: dataclasses.Field) -> str:
    """What ``--help`` says a training flag defaults to."""
    own = field.metadata.get("default_text")
    if own is None:
        own = "none" if field.default is None else str(field.default)
        own = {"True": "on", "False": "off"}.get(own, own)
    if not field.metadata.get("recipe"):
        return own
    if field.default is None and "default_text" not in field.metadata:  # the budget
        return RECIPE_DEFAULT
    return f"{RECIPE_DEFAULT}; else {own}"


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field, in argument groups (:data:`GROUPS`); a flag
    not given is absent from the namespace."""
    groups = {name: parser.add_argument_group(name, text) for name, text in GROUPS.items()}
    for name, field in FIELDS.items():
        if not field.metadata.get("help") or field.metadata.get("group") not in groups:
            raise TypeError(f"TrainConfig.{name} needs metadata help= and group= (one of {list(groups)})")
        hint, optional = _value_type(HINTS[name])
        flags = ["--" + name.replace("_", "-"), *_ALIASES.get(name, ())]
        text = f"{field.metadata['help']} (default: {default_text(field)})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
        if hint is bool:  # --x/--no-x where "on" is the default or None means "auto"
            kwargs["action"] = argparse.BooleanOptionalAction if optional or field.default else "store_true"
        elif typing.get_origin(hint) is Literal:
            choices = typing.get_args(hint)
            kwargs |= {"choices": choices, "type": type(choices[0])}
        elif hint in (int, float, str):
            unset = optional and name not in BUDGET_KEYS  # --grad-clip none, --patience none
            kwargs["type"] = _or_none(hint) if unset else hint
            kwargs["metavar"] = {int: "N", float: "X", str: name.upper()}[hint] + ("|none" if unset else "")
        else:
            raise TypeError(f"TrainConfig.{name}: no command-line form for {HINTS[name]!r}")
        groups[field.metadata["group"]].add_argument(*flags, **kwargs)


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`TrainConfig` fields the command line gave (and only those)."""
    return {name: getattr(args, name) for name in FIELDS if hasattr(args, name)}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped to the terminal; the examples section (the epilog) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


EXAMPLES = {
    "plugins": _examples(
        "sslcore plugins",
        "SSLCORE_DISABLE_PLUGINS=nlp sslcore plugins   # as if sslcore-nlp were not installed",
    ),
    "tasks": _examples("sslcore tasks", "sslcore tasks --domain graph", "sslcore tasks dgi"),
    "encoders": _examples("sslcore encoders", "sslcore encoders --domain vision"),
    "datasets": _examples("sslcore datasets", "sslcore datasets --domain nlp"),
    "pretrain": _examples(
        "sslcore pretrain dgi --dataset cora --data-root DATA --output runs/dgi   # the recipe's budget",
        "sslcore pretrain simclr --dataset fashion-mnist --data-root DATA --output runs/simclr \\\n"
        "      --seconds 600 --batch-size 256 --optimizer sgd --momentum 0.9 --task-opt temperature=0.5",
        "sslcore pretrain mlm --dataset wikitext2 --data-root DATA --output runs/mlm --steps 2000 --resume",
        "torchrun --standalone --nproc-per-node 2 -m sslcore pretrain simclr --dataset digits "
        "--output runs/ddp --no-progress",
    ),
    "export": _examples(
        "sslcore export runs/simclr exports/simclr",
        "sslcore export runs/mlm exports/mlm --data-root DATA   # data moved since training",
    ),
    "evaluate": _examples(
        "sslcore evaluate runs/dgi --protocol linear",
        "sslcore evaluate runs/dgi --protocol knn --random-init --device cpu",
        "sslcore evaluate runs/mlm --protocol finetune --protocol-opt lrs=[1e-4,3e-4] --protocol-opt epochs=4",
    ),
    "compare": _examples(
        "sslcore compare --suite quick",
        "sslcore compare grid.toml --output reports/mine --data-root DATA",
        "sslcore compare --suite standard --data-root DATA   # rerun the same command to resume",
    ),
    "demo": _examples("sslcore demo", "sslcore demo --output runs/demo"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslcore",
        description="Self-supervised learning across domains.",
        epilog="`sslcore COMMAND --help` shows a command's options and examples.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A subcommand whose --help ends with its examples (:data:`EXAMPLES`)."""
        return sub.add_parser(name, epilog=EXAMPLES[name], formatter_class=HelpFormatter, **kwargs)

    p = command("plugins", help="list installed plugins, what each registers, and failures")
    p.set_defaults(func=cmd_plugins)
    p = command("tasks", help="taxonomy table of installed pretext tasks; NAME: one task's card")
    p.add_argument("name", nargs="?", help="a task: its taxonomy, options, recipe and reference")
    p.add_argument("--domain")
    p.set_defaults(func=cmd_tasks)
    for kind in ("encoder", "dataset"):
        p = command(f"{kind}s", help=f"list installed {kind}s")
        p.add_argument("--domain")
        p.set_defaults(func=cmd_list(kind))

    p = command(
        "pretrain",
        help="pretrain a task on a dataset into a run folder",
        description="Pretrain TASK on a dataset into a run folder. A training flag that is not given "
        "takes the task's recipe value (`sslcore tasks NAME`); the training flags are the fields of "
        "sslcore.engine.TrainConfig, the same names as a grid's train table and "
        "sslcore.runs.pretrain's keywords.",
    )
    p.add_argument("task", help="a registered task (`sslcore tasks`), e.g. simclr or graph:dgi")
    p.add_argument("--dataset", required=True, help="a registered dataset (`sslcore datasets`)")
    p.add_argument("--data-root", help="the folder the dataset's files are in")
    p.add_argument("--output", required=True, help="the run folder (config, metrics, checkpoints)")
    p.add_argument("--encoder", help="a registered encoder (`sslcore encoders`; default: the task's)")
    p.add_argument(
        "--task-opt", action="append", metavar="KEY=VALUE", help="a task option, e.g. temperature=0.5"
    )
    p.add_argument("--encoder-opt", action="append", metavar="KEY=VALUE", help="an encoder option")
    p.add_argument("--dataset-opt", action="append", metavar="KEY=VALUE", help="a dataset option")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    add_train_arguments(p)
    p.set_defaults(func=cmd_pretrain)

    p = command(
        "export", help="export a run's encoder as safetensors + JSON sidecar (+ transformers directory)"
    )
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--data-root", help="override the data root stored in the run")
    p.set_defaults(func=cmd_export)

    p = command("evaluate", help="evaluate a run's embeddings (frozen or fine-tuned); prints test accuracy")
    p.add_argument("run_dir")
    p.add_argument("--protocol", default="linear", help="linear, linear_adam, knn, link or finetune")
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

    p = command(
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

    p = command("demo", help="the quick cross-domain comparison (same as: compare --suite quick)")
    p.add_argument("--output", default=None)
    p.set_defaults(func=cmd_compare, grid=None, suite="quick", data_root=None)
    return parser


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """sslcore's own warnings as one ``sslcore: warning: ...`` line; others as Python prints them."""
    if Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent):
        return f"sslcore: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _format_warning
    # torch_geometric imports torch.jit.script, deprecated in this torch: nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
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

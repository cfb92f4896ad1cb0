"""``sslcore compare``: grid files, the runner (resume, failures, pre-flight checks),
reports, the raw-feature baseline and representation geometry, on toy tasks."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sslcore import DatasetBundle, Paradigm, TaskSpec, hookimpl
from sslcore.compare import GridError, parse_grid, read_results, run_grid, suite_grid, write_report
from sslcore.compare.baselines import RawFeatures, raw_features
from sslcore.compare.geometry import effective_rank, geometry, label_alignment
from sslcore.plugins import Registry
from sslcore.recipes import Recipe
from tests.test_runs import RunsPlugin
from tests.toy_tasks import AutoEncoder, NoisyViewsContrast

GRID = """
[settings]
seeds = [0, 1]
device = "cpu"

[[run]]
task = ["ae", "contrast"]
dataset = "vecs"
budget = {steps = 4}
train = {batch_size = 8, lr = 1e-2}
"""


class Boom(AutoEncoder):
    def forward(self, batch):
        raise RuntimeError("the task exploded")


class ComparePlugin(RunsPlugin):
    """The toy encoder and dataset of test_runs, with more tasks."""

    @hookimpl
    def sslcore_register_tasks(self):
        return [
            TaskSpec("ae", "toy", Paradigm.GENERATIVE, AutoEncoder, default_encoder="vec"),
            TaskSpec(
                "contrast",
                "toy",
                Paradigm.CONTRASTIVE,
                NoisyViewsContrast,
                family="instance-instance",
                negatives="end-to-end",
                default_encoder="vec",
            ),
            TaskSpec("boom", "toy", Paradigm.GENERATIVE, Boom, default_encoder="vec"),
        ]


@pytest.fixture()
def registry() -> Registry:
    reg = Registry()
    reg.register(ComparePlugin(), "toycompare")
    return reg


def quiet(_: str) -> None:
    pass


# --- grid files ---


def test_a_grid_expands_to_the_product_of_its_lists() -> None:
    grid = parse_grid(GRID)
    assert [(r.task, r.seed) for r in grid.runs] == [("ae", 0), ("ae", 1), ("contrast", 0), ("contrast", 1)]
    assert all(r.budget == {"steps": 4} and r.train == {"batch_size": 8, "lr": 1e-2} for r in grid.runs)
    ids = [r.run_id for r in grid.runs]
    assert len(set(ids)) == 4 and ids == [r.run_id for r in parse_grid(GRID).runs]  # distinct, stable


def test_an_unknown_key_names_the_file_line_and_closest_key() -> None:
    text = GRID.replace("train = ", "trian = ")
    with pytest.raises(GridError, match=r"grid.toml, line 10: key 'trian'.*did you mean 'train'"):
        parse_grid(text, "grid.toml")


def test_malformed_toml_and_wrong_types_are_clear_errors() -> None:
    with pytest.raises(GridError, match=r"grid.toml: malformed TOML.*line 3"):
        parse_grid("[settings]\nseeds = [0]\nbudget = {steps = \n", "grid.toml")
    with pytest.raises(GridError, match=r"line 3: key 'seeds' must be a non-empty list of integers"):
        parse_grid(GRID.replace("seeds = [0, 1]", "seeds = 3"), "g.toml")
    with pytest.raises(GridError, match="has no 'dataset'"):
        parse_grid(GRID.replace('dataset = "vecs"', ""), "g.toml")
    with pytest.raises(GridError, match=r"line 9: key 'budget' must be a table such as"):
        parse_grid(GRID.replace("budget = {steps = 4}", "budget = {}"), "g.toml")
    with pytest.raises(GridError, match=r"key 'protocl' is not a valid key of a protocol table; did you"):
        parse_grid(GRID.replace("budget = ", 'protocol = [{protocl = "knn"}]\nbudget = '), "g.toml")
    with pytest.raises(GridError, match=r"key 'protocol' must be a protocol name, or a list"):
        parse_grid(GRID.replace("budget = ", 'protocol = ["knn", 3]\nbudget = '), "g.toml")
    with pytest.raises(GridError, match="no runs"):
        parse_grid("[settings]\nseeds = [0]\n", "g.toml")


def test_a_missing_task_is_reported_before_any_run(registry: Registry, tmp_path: Path) -> None:
    grid = parse_grid(GRID.replace('["ae", "contrast"]', '["ae", "simclr"]'), "g.toml")
    with pytest.raises(GridError, match=r"unknown task 'simclr'"):
        run_grid(grid, tmp_path, registry=registry, log=quiet)
    assert not (tmp_path / "runs").exists()


def test_unknown_options_are_reported_before_any_run(registry: Registry, tmp_path: Path) -> None:
    text = GRID.replace("train = {batch_size = 8, lr = 1e-2}", "train = {batch_size = 8, lr = 1e-2, lrr = 1}")
    text += "task_options = {out_dimm = 3}\n"
    with pytest.raises(GridError) as info:
        run_grid(parse_grid(text, "g.toml"), tmp_path, registry=registry, log=quiet)
    assert "'out_dimm'" in str(info.value) and "did you mean 'out_dim'" in str(info.value)
    assert "'lrr'" in str(info.value) and "did you mean 'lr'" in str(info.value)
    assert not (tmp_path / "runs").exists()


# --- the runner ---


def test_runs_are_recorded_with_probes_baselines_geometry_and_compute(
    registry: Registry, tmp_path: Path
) -> None:
    records = run_grid(parse_grid(GRID), tmp_path, registry=registry, log=quiet)
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    for r in records:
        for key in ("pretrained", "random_init", "raw"):
            assert 0.0 <= r[key] <= 1.0
        assert r["gain_over_random"] == pytest.approx(r["pretrained"] - r["random_init"])
        assert r["steps"] == 4 and r["flops_per_step"] > 0 and r["train_flops"] == 4 * r["flops_per_step"]
        assert set(r["geometry"]) == {"pretrained", "random_init"}
        assert 1.0 <= r["geometry"]["pretrained"]["effective_rank"] <= r["embedding_dim"]
        assert r["domain"] == "toy" and r["paradigm"] in ("generative", "contrastive")
    # the raw baseline probes the 8-d vectors themselves, whose label is the sign of x[0]
    assert records[0]["raw"] == 1.0
    # ... once per data and seed: the second task's runs reuse the first's, and say whose
    first, second = records[0]["evaluations"]["linear"], records[2]["evaluations"]["linear"]
    assert (records[0]["seed"], records[2]["seed"]) == (0, 0) and "raw_from" not in first
    assert second["raw_from"] == records[0]["run_id"] and second["metrics"]["raw"] == first["metrics"]["raw"]
    assert records[1]["evaluations"]["linear"]["raw_key"] != first["raw_key"]  # seed 1: its own probe


def test_a_run_without_a_budget_trains_its_recipe(tmp_path: Path) -> None:
    class RecipePlugin(ComparePlugin):
        @hookimpl
        def sslcore_register_tasks(self):
            recipe = Recipe(train={"steps": 3, "batch_size": 8, "lr": 1e-2})
            return [
                TaskSpec("ae", "toy", Paradigm.GENERATIVE, AutoEncoder, default_encoder="vec", recipe=recipe)
            ]

    reg = Registry()
    reg.register(RecipePlugin(), "toyrecipe")
    grid = parse_grid(GRID.replace("budget = {steps = 4}\n", "").replace('["ae", "contrast"]', '"ae"'))
    assert [r.budget for r in grid.runs] == [{}, {}] and "-recipe-" in grid.runs[0].run_id
    records = run_grid(grid, tmp_path, registry=reg, log=quiet)
    assert [r["steps"] for r in records] == [3, 3] and all(r["status"] == "ok" for r in records)


def test_a_run_is_evaluated_with_each_protocol_of_its_list(registry: Registry, tmp_path: Path) -> None:
    plain = parse_grid(GRID).runs[0]
    text = GRID.replace(
        "budget = ", 'protocol = ["knn", {protocol = "linear", dataset_options = {num_test = 6}}]\nbudget = '
    )
    grid = parse_grid(text.replace("seeds = [0, 1]", "seeds = [0]"))
    run = grid.runs[0]
    assert run.protocol == "knn" and [e.label for e in run.evaluations] == ["knn", "linear_num_test-6"]
    assert plain.run_id != run.run_id
    (record, *_) = run_grid(grid, tmp_path, registry=registry, log=quiet)
    assert record["protocol"] == "knn" and set(record["evaluations"]) == {"knn", "linear_num_test-6"}
    knn, linear = record["evaluations"]["knn"], record["evaluations"]["linear_num_test-6"]
    assert record["pretrained"] == knn["pretrained"] and record["metrics"] == knn["metrics"]
    for evaluation in (knn, linear):
        assert all(0.0 <= evaluation[k] <= 1.0 for k in ("pretrained", "random_init", "raw"))
        assert all(m["seconds"] > 0 for m in evaluation["metrics"].values())
    # the second evaluation probed the dataset rebuilt with its options: 6 test rows, not 10
    assert linear["metrics"]["pretrained"]["num_test"] == 6 and knn["metrics"]["pretrained"]["num_test"] == 10


def test_a_single_protocol_run_keeps_its_folder_name() -> None:
    """Grids written before protocol lists resume into the same run folders."""
    import hashlib

    run = parse_grid(GRID).runs[0]
    config = {**dataclasses.asdict(run), "protocol": "linear"}
    del config["evaluations"]
    assert run.run_id.endswith(hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8])


def test_a_multi_protocol_run_without_protocol_options_keeps_its_folder_name() -> None:
    """Grids written before protocol options existed resume into the same run folders: an
    evaluation without options hashes as ``{protocol, dataset_options}``."""
    import hashlib

    text = GRID.replace("budget = ", 'protocol = ["knn", {protocol = "linear"}]\nbudget = ')
    run = parse_grid(text).runs[0]
    config = dataclasses.asdict(run)
    config["evaluations"] = [
        {"protocol": "knn", "dataset_options": {}},
        {"protocol": "linear", "dataset_options": {}},
    ]
    assert run.run_id.endswith(hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8])


def test_protocol_options_of_a_grid_reach_the_protocol(registry: Registry, tmp_path: Path) -> None:
    table = '{protocol = "linear_adam", options = {epochs = 3, weight_decay = 0.0}}'
    text = GRID.replace("budget = ", f'protocol = ["linear", {table}]\nbudget = ')
    grid = parse_grid(text.replace("seeds = [0, 1]", "seeds = [0]"))
    run = grid.runs[0]
    (adam,) = run.evaluations[1:]
    assert adam.options == {"epochs": 3, "weight_decay": 0.0}
    assert adam.label == "linear_adam_epochs-3_weight_decay-0.0"
    assert run.run_id != parse_grid(text.replace("epochs = 3", "epochs = 4")).runs[0].run_id
    (record, *_) = run_grid(grid, tmp_path, registry=registry, log=quiet)
    evaluation = record["evaluations"][adam.label]
    for which in ("pretrained", "random_init", "raw"):
        metrics = evaluation["metrics"][which]
        assert 1 <= metrics["selected"]["epoch"] <= 3 and 0.0 <= evaluation[which] <= 1.0


def test_bad_protocol_options_of_a_grid_fail_before_any_run(registry: Registry, tmp_path: Path) -> None:
    for options, message in (
        (
            "{epoch = 3}",
            r"protocol 'linear_adam' has no option epoch; did you mean 'epochs'\? Its options: lr, "
            "weight_decay, epochs",
        ),
        ("{weight_decay = -1.0}", r"weight_decay"),
    ):
        text = GRID.replace(
            "budget = ", f'protocol = {{protocol = "linear_adam", options = {options}}}\nbudget = '
        )
        with pytest.raises(GridError, match=message):
            run_grid(parse_grid(text), tmp_path, registry=registry, log=quiet)
        assert not (tmp_path / "runs").exists()
    with pytest.raises(GridError, match=r"key 'protocol' must be a protocol name"):
        parse_grid(GRID.replace("budget = ", 'protocol = {protocol = "knn", options = 3}\nbudget = '))


def test_an_interrupted_grid_resumes_without_redoing_finished_runs(
    registry: Registry, tmp_path: Path
) -> None:
    grid = parse_grid(GRID)
    started: list[str] = []

    def interrupt_at_third_run(message: str) -> None:
        if message.endswith("..."):
            started.append(message)
            if len(started) == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, tmp_path, registry=registry, log=interrupt_at_third_run)
    first = read_results(tmp_path)
    assert len(first) == 2
    messages: list[str] = []
    records = run_grid(grid, tmp_path, registry=registry, log=messages.append)
    assert sum("finished earlier, skipped" in m for m in messages) == 2
    assert len(records) == 4
    assert records[:2] == first  # finished records untouched


def test_a_run_killed_before_its_first_checkpoint_is_redone(registry: Registry, tmp_path: Path) -> None:
    import shutil

    from sslcore.compare.runner import RESULTS

    grid = parse_grid(GRID)
    records = run_grid(grid, tmp_path, registry=registry, log=quiet)
    killed = records[1]["run_id"]  # as if killed mid-run: folder and config, no checkpoint, no record
    shutil.rmtree(tmp_path / "runs" / killed / "checkpoints")
    kept = [line for line in (tmp_path / RESULTS).read_text().splitlines() if killed not in line]
    (tmp_path / RESULTS).write_text("\n".join(kept) + "\n")
    again = run_grid(grid, tmp_path, registry=registry, log=quiet)
    assert {r["run_id"] for r in again} == {r["run_id"] for r in records}
    redone = next(r for r in again if r["run_id"] == killed)
    assert redone["status"] == "ok" and redone["steps"] == 4


def test_a_crashing_run_is_recorded_as_failed_and_the_grid_continues(
    registry: Registry, tmp_path: Path
) -> None:
    grid = parse_grid(GRID.replace('["ae", "contrast"]', '["boom", "ae"]').replace("[0, 1]", "[0]"))
    records = run_grid(grid, tmp_path, registry=registry, log=quiet)
    assert [r["status"] for r in records] == ["failed", "ok"]
    assert "the task exploded" in records[0]["error"]
    paths = write_report(grid, records, tmp_path, registry)
    assert (
        "Failed runs" in paths["markdown"].read_text()
        and "the task exploded" in paths["markdown"].read_text()
    )


def test_the_report_has_table_csv_json_and_plots(registry: Registry, tmp_path: Path) -> None:
    grid = parse_grid(GRID)
    records = run_grid(grid, tmp_path, registry=registry, log=quiet)
    paths = write_report(grid, records, tmp_path, registry)
    md = paths["markdown"].read_text()
    assert md.count("| toy |") == 2  # one row per task, means over the 2 seeds
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["task"] for r in rows] == ["ae", "contrast"] and {r["seeds"] for r in rows} == {"2"}
    ae = [r for r in records if r["task"] == "ae"]
    assert float(rows[0]["pretrained"]) == pytest.approx(np.mean([r["pretrained"] for r in ae]))
    report = json.loads(paths["json"].read_text())
    assert report["grid"] == GRID and "torch" in report["versions"] and report["hardware"]["cpus"]
    assert len(report["runs"]) == 4
    for kind in ("accuracy", "compute", "gain", "geometry"):
        assert paths[kind].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- baselines and geometry ---


def test_raw_features_fall_back_to_flattened_tensors(registry: Registry) -> None:
    toy = DatasetBundle("vecs", "toy", "row", [0])
    assert registry.hook.sslcore_raw_features(bundle=toy) is None  # no plugin answers for "toy"
    raw = raw_features(toy, registry)
    images = torch.arange(24.0).reshape(2, 3, 2, 2)
    assert isinstance(raw, RawFeatures) and torch.equal(raw.embed(images), images.reshape(2, 12))
    with pytest.raises(TypeError, match="no raw-feature baseline"):
        raw.embed([1, 2, 3])


def test_each_domain_plugin_supplies_its_raw_features() -> None:
    """Through the hook, with the numbers of the baselines the core built before the hook."""
    from sslcore.plugins import get_registry

    registry = get_registry()
    if not {"vision", "nlp", "graph"} <= set(registry.plugins):
        pytest.skip("needs the three domain plugins installed")
    pyg = pytest.importorskip("torch_geometric.data")

    class Tokenizer:
        def __len__(self) -> int:
            return 6

    bundles = {
        "vision": DatasetBundle("d", "vision", "image", [0]),
        "nlp": DatasetBundle("d", "nlp", "sentence", [0], info={"tokenizer": Tokenizer()}),
        "graph": DatasetBundle("d", "graph", "graph", [0]),
    }
    assert all(registry.hook.sslcore_raw_features(bundle=b) is not None for b in bundles.values())
    raw = {domain: raw_features(bundle, registry) for domain, bundle in bundles.items()}
    images = torch.arange(24.0).reshape(2, 3, 2, 2)
    assert torch.equal(raw["vision"].embed(images), images.reshape(2, 12))  # pixels
    ids = torch.tensor([[2, 5, 5, 0], [3, 3, 3, 1]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    bag = raw["nlp"].embed({"input_ids": ids, "attention_mask": mask})
    expected = torch.zeros(2, 6)
    expected[0, 2], expected[0, 5], expected[1, 3], expected[1, 1] = 1, 2, 3, 1  # padding not counted
    assert torch.allclose(bag, torch.log1p(expected))  # log(1 + count) of each token
    g1 = pyg.Data(x=torch.tensor([[1.0, 0.0], [3.0, 2.0]]), edge_index=torch.zeros(2, 0, dtype=torch.long))
    g2 = pyg.Data(x=torch.tensor([[5.0, 5.0]]), edge_index=torch.zeros(2, 0, dtype=torch.long))
    assert torch.equal(raw["graph"].embed(g1), g1.x)  # node features
    batch = pyg.Batch.from_data_list([g1, g2])
    assert torch.equal(raw["graph"].embed(batch), torch.tensor([[2.0, 1.0], [5.0, 5.0]]))  # graph means
    for domain, wrong in (("nlp", images), ("graph", images)):
        with pytest.raises(TypeError, match="raw-feature baseline"):
            raw[domain].embed(wrong)
    with pytest.raises(ValueError, match="needs the dataset's tokenizer"):
        raw_features(DatasetBundle("d", "nlp", "sentence", [0]), registry).embed({"input_ids": ids})


def test_geometry_of_known_configurations() -> None:
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(500, 16))
    line = np.outer(rng.normal(size=500), rng.normal(size=16))
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert 12 < effective_rank(spread) <= 16
    y = np.repeat([0, 1], 250)
    collapsed = np.where(y[:, None] == 0, 1.0, -1.0) * np.ones((500, 16))
    assert label_alignment(collapsed, y) == pytest.approx(0.0, abs=1e-6)
    g_spread, g_collapsed = geometry(spread, y), geometry(collapsed, y)
    assert g_spread["uniformity"] < g_collapsed["uniformity"]  # spread out is more uniform
    assert g_spread["alignment"] > g_collapsed["alignment"]
    with pytest.raises(ValueError, match="X must be"):
        geometry(spread, y[:10])


def test_the_quick_suite_covers_every_paradigm_per_domain_on_bundled_data() -> None:
    grid = suite_grid("quick")
    from sslcore.plugins import get_registry

    registry = get_registry()
    by_domain: dict[str, set[str]] = {}
    for run in grid.runs:
        assert run.data_root is None  # nothing from disk
        try:
            spec = registry.task(run.task)
        except KeyError:
            continue  # that plugin is not installed
        assert not registry.dataset(run.dataset).needs_root
        by_domain.setdefault(spec.domain, set()).add(str(spec.paradigm))
    for paradigms in by_domain.values():
        assert paradigms == {"generative", "contrastive", "generative-contrastive"}
    if {"vision", "nlp", "graph"} <= set(registry.plugins):
        from sslcore.compare.runner import check_grid

        check_grid(grid, registry)  # names, domains and every option are valid


def test_the_standard_suite_names_installed_components_and_takes_a_data_root(tmp_path: Path) -> None:
    from sslcore.compare.runner import check_grid
    from sslcore.plugins import get_registry

    registry = get_registry()
    if not {"vision", "nlp", "graph"} <= set(registry.plugins):
        pytest.skip("needs the three domain plugins")
    grid = suite_grid("standard").with_data_root(tmp_path)
    check_grid(grid, registry)  # every name resolves, every task matches its dataset's domain
    assert {r.data_root for r in grid.runs} == {str(tmp_path.resolve())}
    assert {registry.task(r.task).domain for r in grid.runs} == {"vision", "nlp", "graph"}


def test_a_finetune_grid_fine_tunes_pretrained_and_random_init_but_not_raw(
    registry: Registry, tmp_path: Path
) -> None:
    grid = GRID.replace('device = "cpu"', 'device = "cpu"\nprotocol = "finetune"').replace(
        "seeds = [0, 1]", "seeds = [0]"
    )
    records = run_grid(parse_grid(grid), tmp_path, registry=registry, log=quiet)
    assert len(records) == 2 and {r["status"] for r in records} == {"ok"}
    for r in records:
        assert (
            r["protocol"] == "finetune" and 0.0 <= r["pretrained"] <= 1.0 and 0.0 <= r["random_init"] <= 1.0
        )
        assert r["raw"] is None and "encoder to train" in r["raw_error"]
        assert set(r["geometry"]) == {"pretrained", "random_init"}  # from the frozen embeddings

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from sslcore import ConfigError
from sslcore.build import build_dataset, build_task
from sslcore.testing.steps import train_steps
from sslcore_vision.encoders.small_cnn import SmallCNN
from sslcore_vision.patches import TileGrid, hamming_permutations, shuffle_tiles
from sslcore_vision.tasks.deep_infomax import DeepInfoMax, stage_maps
from sslcore_vision.tasks.pirl import PIRL, MemoryBank
from sslcore_vision.tasks.relative_position import neighbour_offset

SMALL_ENCODER = {"width": 8, "output_dim": 32}
#: tile tasks without gaps or jitter, so tiles are exact cells of the image
EXACT_TILES = {"gap": 0.0, "patch_jitter": 0.0, "min_tile_size": 0}


@pytest.fixture(scope="module")
def digits24(registry):
    """Digits upsampled to 24x24: 8-pixel cells in a 3x3 grid."""
    return build_dataset("digits", None, {"image_size": 24}, registry=registry)


def build(name, bundle, registry, **options):
    torch.manual_seed(0)
    return build_task(name, bundle, task_options=options, encoder_options=SMALL_ENCODER, registry=registry)


CASES = [
    ("rotation", {}),
    ("relative_position", {}),
    ("jigsaw", {"num_permutations": 10}),
    ("pirl", {"num_negatives": 64}),
    ("deep_infomax", {"local_size": 6}),  # 24x24 images: the 6x6 stage
    ("deep_infomax", {"estimator": "infonce", "local_size": 6}),
]
#: local features of an intermediate stage are slower to tell apart than the rest
STEPS = {"deep_infomax": 60}


@pytest.mark.parametrize(("name", "options"), CASES)
def test_a_few_steps_lower_the_loss_and_embed_is_the_encoder(
    name, options, registry, digits24, samples, eval_images
):
    task = build(name, digits24, registry, **options)
    raw = samples(digits24)
    batch = task.collate(list(enumerate(raw)) if task.needs_indices else raw)  # PIRL takes (index, image)
    step_end = lambda step: task.on_train_step_end(0.0)  # noqa: E731
    losses = train_steps(
        lambda step: task(batch), task, STEPS.get(name, 8), 2e-3, torch.optim.AdamW, step_end
    )
    assert losses[-1] < 0.8 * losses[0], losses
    images = eval_images(digits24)
    task.eval()
    with torch.no_grad():
        z = task.embed(images)
        assert z.shape == (10, SMALL_ENCODER["output_dim"])
        assert torch.equal(z, task.encoder(images))


def test_rotation_labels_name_the_applied_rotation(registry, digits_bundle, samples, eval_images):
    task = build("rotation", digits_bundle, registry)
    images, labels = task.collate(samples(digits_bundle, 8))
    originals = eval_images(digits_bundle, 8)
    assert images.shape == (32, 1, 16, 16)
    assert torch.bincount(labels).tolist() == [8, 8, 8, 8]
    for k, (image, label) in enumerate(zip(images, labels)):
        assert torch.equal(torch.rot90(image, -int(label), dims=(-2, -1)), originals[k % 8])
    assert not torch.equal(images[8], originals[0])  # a quarter turn changes a digit


def reassemble(tiles: torch.Tensor, grid: int) -> torch.Tensor:
    """``[n, C, t, t]`` row-major tiles -> ``[C, grid * t, grid * t]``."""
    n, c, t, _ = tiles.shape
    return tiles.view(grid, grid, c, t, t).permute(2, 0, 3, 1, 4).reshape(c, grid * t, grid * t)


def test_jigsaw_tiles_reassemble_under_the_inverse_permutation(registry, digits24, samples, eval_images):
    task = build("jigsaw", digits24, registry, num_permutations=20, **EXACT_TILES)
    puzzles, labels = task.collate(samples(digits24, 16))
    originals = eval_images(digits24, 16)
    assert puzzles.shape == (16, 9, 1, 8, 8)
    inverse = task.permutations[labels].argsort(dim=1)
    restored = shuffle_tiles(puzzles, inverse)
    for tiles, image in zip(restored, originals):
        assert torch.equal(reassemble(tiles, 3), image)
    assert not all(torch.equal(reassemble(p, 3), x) for p, x in zip(puzzles, originals))


def test_jittered_tiles_with_gaps_stay_inside_their_cells():
    image = torch.arange(30 * 30.0).view(1, 1, 30, 30)
    grid = TileGrid(30, 3, gap=0.3, jitter=1.0)
    corners = grid.offsets(500, torch.Generator().manual_seed(0))
    cells = torch.arange(9)
    low = torch.stack([cells // 3, cells % 3], dim=1) * 10
    assert grid.tile == 7
    assert ((corners >= low) & (corners + 7 <= low + 10)).all()
    assert len(torch.unique(corners[:, 0], dim=0)) > 1  # jitter moves tiles
    tiles = TileGrid(30, 3, gap=0.3, jitter=1.0, min_tile_size=12).extract(image)
    assert tiles.shape == (1, 9, 1, 12, 12)


def test_permutation_set_is_unique_far_apart_and_seeded():
    perms = hamming_permutations(50, 9, seed=1)
    assert perms.shape == (50, 9)
    assert len({tuple(p) for p in perms.tolist()}) == 50
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())

    def min_distance(p):
        d = (p[:, None] != p[None]).sum(-1)
        return int(d[~torch.eye(len(p), dtype=torch.bool)].min())

    random_set = torch.stack(
        [torch.randperm(9, generator=torch.Generator().manual_seed(s)) for s in range(50)]
    )
    assert min_distance(perms) > min_distance(random_set)
    assert torch.equal(perms, hamming_permutations(50, 9, seed=1))
    assert not torch.equal(perms, hamming_permutations(50, 9, seed=2))
    all_of_four = hamming_permutations(24, 4)
    assert {tuple(p) for p in all_of_four.tolist()} == set(itertools.permutations(range(4)))


def test_default_permutation_set_is_100_greedy_max_min_hamming_choices(registry, digits24):
    """Each permutation after the first is as far (in minimum Hamming distance) from the
    ones before it as any of the 9! permutations can be."""
    perms = build("jigsaw", digits24, registry).permutations
    assert perms.shape == (100, 9)
    every = torch.tensor(list(itertools.permutations(range(9))), dtype=torch.uint8)  # [9!, 9]
    nearest = torch.full((len(every),), 10, dtype=torch.uint8)
    for k in range(1, len(perms)):
        nearest = torch.minimum(nearest, (every != perms[k - 1].to(torch.uint8)).sum(1).to(torch.uint8))
        own = int((perms[:k] != perms[k]).sum(1).min())
        assert own == int(nearest.max()), (
            f"permutation {k} is {own} away from the set; the best is {nearest.max()}"
        )


def test_relative_position_labels_match_the_neighbour_offset(registry, digits24, samples, eval_images):
    task = build("relative_position", digits24, registry, **EXACT_TILES)
    centres, neighbours, labels = task.collate(samples(digits24, 32))
    originals = eval_images(digits24, 32)
    assert centres.shape == neighbours.shape == (32, 1, 8, 8)
    assert len(torch.unique(labels)) > 4
    row_major = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    assert [neighbour_offset(label) for label in range(8)] == row_major
    for centre, neighbour, label, image in zip(centres, neighbours, labels, originals):
        dy, dx = neighbour_offset(int(label))
        assert (dy, dx) != (0, 0)
        assert torch.equal(centre, image[:, 8:16, 8:16])
        assert torch.equal(neighbour, image[:, 8 + 8 * dy : 16 + 8 * dy, 8 + 8 * dx : 16 + 8 * dx])


@pytest.mark.parametrize(("local_size", "stage", "side"), [(7, 1, 7), (4, 2, 4), (0, 3, 2), (50, 0, 14)])
def test_deep_infomax_takes_local_features_from_the_deepest_stage_of_at_least_local_size(
    local_size: int, stage: int, side: int
) -> None:
    info = {"in_channels": 1, "image_size": 28, "mean": [0.5], "std": [0.25]}
    encoder = SmallCNN(1, width=8, output_dim=32)  # 28x28 -> 14, 7, 4, 2 per side
    task = DeepInfoMax.from_data(encoder, info, local_size=local_size)
    assert task.local_stage == stage
    images = torch.randn(3, 1, 28, 28)
    assert stage_maps(encoder, images)[stage].shape[2:] == (side, side)
    out = task(images)  # the local head takes that stage's channels
    assert torch.isfinite(out.loss)


def test_deep_infomax_scores_positive_pairs_higher_after_training(registry, digits_bundle, samples):
    task = build("deep_infomax", digits_bundle, registry, local_size=4)
    images = task.collate(samples(digits_bundle, 32))

    def critic_gap() -> float:
        """Mean critic score of (global i, local of image i) minus (global i, local of j != i)."""
        with torch.no_grad():
            maps = stage_maps(task.encoder, images)
            global_ = task.head(maps[-1].mean(dim=(2, 3)))
            local = task.local_head(maps[task.local_stage]).mean(dim=(2, 3))  # the score is linear in it
            scores = global_ @ local.T  # [i, j]
            same = torch.eye(len(scores), dtype=torch.bool)
            return (scores[same].mean() - scores[~same].mean()).item()

    before = critic_gap()
    train_steps(lambda step: task(images), task, steps=40, lr=2e-3, optimizer=torch.optim.AdamW)
    after = critic_gap()
    assert after > 0 and after > before + 1.0
    with torch.no_grad():
        assert task(images).metrics["score_gap"] == pytest.approx(after, rel=1e-3)


def test_memory_bank_moves_entries_towards_new_representations():
    bank = MemoryBank(num_samples=8, dim=4)
    indices = torch.tensor([5, 0, 7])
    first, second, fresh = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    assert bank.sample(16) is None
    assert torch.equal(bank.entries(indices, fresh), fresh)  # nothing written yet
    bank.update(indices, first, momentum=0.5)
    assert torch.allclose(bank.entries(indices, fresh), F.normalize(first, dim=1))  # first write: as is
    bank.update(indices[:2], second[:2], momentum=0.5)
    expected = F.normalize(0.5 * F.normalize(first[:2], dim=1) + 0.5 * F.normalize(second[:2], dim=1), dim=1)
    assert torch.allclose(bank.memory[indices[:2]], expected)
    assert torch.allclose(bank.memory[7], F.normalize(first[2], dim=0))  # untouched
    assert bank.written.tolist() == [True, False, False, False, False, True, False, True]
    # negatives come from the written rows only
    assert sorted(map(tuple, bank.sample(16).tolist())) == sorted(map(tuple, bank.memory[[0, 5, 7]].tolist()))
    drawn = bank.sample(2)
    assert drawn.shape == (2, 4) and all(
        any(torch.equal(d, bank.memory[i]) for i in (0, 5, 7)) for d in drawn
    )
    # never the excluded rows (a batch's own entries), even when fewer than k are left
    assert sorted(map(tuple, bank.sample(16, exclude=torch.tensor([5])).tolist())) == sorted(
        map(tuple, bank.memory[[0, 7]].tolist())
    )
    assert bank.sample(16, exclude=torch.tensor([0, 5, 7])) is None
    assert bank.written.tolist() == [True, False, False, False, False, True, False, True]  # unchanged
    restored = MemoryBank(num_samples=8, dim=4)
    restored.load_state_dict(bank.state_dict())
    assert torch.equal(restored.memory, bank.memory) and torch.equal(restored.written, bank.written)


def test_pirl_bank_has_a_row_per_pretraining_sample_updated_after_the_step(registry, digits_bundle, samples):
    task = build("pirl", digits_bundle, registry, bank_momentum=0.25)
    assert task.needs_indices and task.bank.memory.shape == (len(digits_bundle.pretrain), 128)
    images = samples(digits_bundle, 16)
    samples = [(i, images[i]) for i in range(15, -1, -2)]  # 8 samples, indices 15, 13, ..., 1
    indices, views, tiles = task.collate(samples)
    assert indices.tolist() == list(range(15, -1, -2))
    assert views.shape[0] == tiles.shape[0] == 8
    task(task.collate(samples))
    assert not task.bank.written.any()  # nothing is written in forward
    task.on_train_step_end(0.0)
    assert task.bank.written.nonzero().flatten().tolist() == list(range(1, 16, 2))
    old = task.bank.memory[indices].clone()
    out = task(task.collate(samples))
    new_values = F.normalize(task.pending[0][1], dim=1)
    task.on_train_step_end(0.0)
    assert torch.allclose(task.bank.memory[indices], F.normalize(0.25 * old + 0.75 * new_values, dim=1))
    assert torch.isfinite(out.loss)
    with pytest.raises(ConfigError, match="sample index 100000 is outside its memory bank"):
        task.collate([(100000, images[0])])


def test_pirl_negatives_never_hold_the_batch_own_memory_entries(
    registry, digits_bundle, samples, monkeypatch
):
    """A bank smaller than ``num_negatives`` gives all its rows as negatives: the batch's
    own entries (each query's positive) must not be among them."""
    import sslcore_vision.tasks.pirl as pirl_module

    task = build("pirl", digits_bundle, registry, num_negatives=4096)
    images = samples(digits_bundle, 12)
    task(task.collate([(i, images[i]) for i in range(12)]))
    task.on_train_step_end(0.0)  # rows 0..11 written
    seen = []
    monkeypatch.setattr(
        pirl_module, "info_nce", lambda q, k, negatives, **_: seen.append(negatives) or (q * k).sum() * 0
    )
    task(task.collate([(i, images[i]) for i in range(4)]))
    others = task.bank.memory[4:12]
    for negatives in seen:  # puzzle and image terms: the 8 entries of the other images
        assert sorted(map(tuple, negatives.tolist())) == sorted(map(tuple, others.tolist()))
    seen.clear()
    task(task.collate([(i, images[i]) for i in range(12)]))
    assert seen == [None, None]  # no other entry yet: in-batch negatives


def test_pirl_trains_in_the_trainer_with_sample_indices(registry, digits24, fit):
    task = build("pirl", digits24, registry, num_negatives=64)
    fit(task, digits24.pretrain, warmup=0.0)
    assert int(task.bank.written.sum()) == 32  # two batches of distinct samples, one row each
    fresh = build("pirl", digits24, registry, num_negatives=64)
    fresh.load_state_dict(task.state_dict())  # the bank is checkpointed
    assert torch.equal(fresh.bank.written, task.bank.written)
    assert torch.equal(fresh.bank.memory, task.bank.memory)


def test_pirl_needs_the_pretraining_set_size(registry, digits_bundle):
    encoder = build("rotation", digits_bundle, registry).encoder
    with pytest.raises(ConfigError, match=r"pirl .* needs info\['num_pretrain_samples'\]"):
        PIRL.from_data(encoder, digits_bundle.info)
    with pytest.raises(ConfigError, match="task 'pirl' has no option 'bank_size'"):
        build("pirl", digits_bundle, registry, bank_size=64)


@pytest.mark.parametrize(("name", "minimum"), [("jigsaw", 9), ("relative_position", 12), ("pirl", 9)])
def test_images_too_small_for_the_tiles_are_rejected_when_building(name, minimum, registry):
    tiny = build_dataset("digits", None, {"image_size": 8}, registry=registry)
    with pytest.raises(ConfigError, match=rf"{name}: 8x8 images .* at least {minimum}x{minimum}"):
        build(name, tiny, registry)


def test_bad_geometry_and_options_are_rejected(registry, digits_bundle):
    with pytest.raises(ConfigError, match="gap"):
        TileGrid(24, 3, gap=1.0)
    with pytest.raises(ConfigError, match="grid"):
        TileGrid(24, 1)
    with pytest.raises(ConfigError, match="estimator"):
        build("deep_infomax", digits_bundle, registry, estimator="nce")

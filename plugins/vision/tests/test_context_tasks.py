from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from sslcore import ConfigError
from sslcore.build import build_dataset, build_task
from sslcore_vision.patches import TileGrid, hamming_permutations, shuffle_tiles
from sslcore_vision.tasks.pirl import MemoryBank, image_id
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


def raw(bundle, n=32):
    return [bundle.pretrain[i] for i in range(n)]


def normalised(bundle, n=32):
    """The first ``n`` training images as the evaluation collate normalises them."""
    images, _ = bundle.evaluation.collate([bundle.evaluation.dataset[i] for i in range(n)])
    return images


CASES = [
    ("rotation", {}),
    ("relative_position", {}),
    ("jigsaw", {"num_permutations": 10}),
    ("pirl", {"num_negatives": 64, "bank_size": 256}),
    ("deep_infomax", {}),
    ("deep_infomax", {"estimator": "infonce"}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_a_few_steps_lower_the_loss_and_embed_is_the_encoder(name, options, registry, digits24):
    task = build(name, digits24, registry, **options)
    batch = task.collate(raw(digits24))
    optimiser = torch.optim.AdamW(task.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        out = task(batch)
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
        task.on_train_step_end(0.0)
        losses.append(out.loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    images = normalised(digits24, 10)
    task.eval()
    with torch.no_grad():
        z = task.embed(images)
        assert z.shape == (10, SMALL_ENCODER["output_dim"])
        assert torch.equal(z, task.encoder(images))


def test_rotation_labels_name_the_applied_rotation(registry, digits_bundle):
    task = build("rotation", digits_bundle, registry)
    images, labels = task.collate(raw(digits_bundle, 8))
    originals = normalised(digits_bundle, 8)
    assert images.shape == (32, 1, 16, 16)
    assert torch.bincount(labels).tolist() == [8, 8, 8, 8]
    for k, (image, label) in enumerate(zip(images, labels)):
        assert torch.equal(torch.rot90(image, -int(label), dims=(-2, -1)), originals[k % 8])
    assert not torch.equal(images[8], originals[0])  # a quarter turn changes a digit


def reassemble(tiles: torch.Tensor, grid: int) -> torch.Tensor:
    """``[n, C, t, t]`` row-major tiles -> ``[C, grid * t, grid * t]``."""
    n, c, t, _ = tiles.shape
    return tiles.view(grid, grid, c, t, t).permute(2, 0, 3, 1, 4).reshape(c, grid * t, grid * t)


def test_jigsaw_tiles_reassemble_under_the_inverse_permutation(registry, digits24):
    task = build("jigsaw", digits24, registry, num_permutations=20, **EXACT_TILES)
    puzzles, labels = task.collate(raw(digits24, 16))
    originals = normalised(digits24, 16)
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


def test_relative_position_labels_match_the_neighbour_offset(registry, digits24):
    task = build("relative_position", digits24, registry, **EXACT_TILES)
    centres, neighbours, labels = task.collate(raw(digits24, 32))
    originals = normalised(digits24, 32)
    assert centres.shape == neighbours.shape == (32, 1, 8, 8)
    assert len(torch.unique(labels)) > 4
    row_major = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    assert [neighbour_offset(label) for label in range(8)] == row_major
    for centre, neighbour, label, image in zip(centres, neighbours, labels, originals):
        dy, dx = neighbour_offset(int(label))
        assert (dy, dx) != (0, 0)
        assert torch.equal(centre, image[:, 8:16, 8:16])
        assert torch.equal(neighbour, image[:, 8 + 8 * dy : 16 + 8 * dy, 8 + 8 * dx : 16 + 8 * dx])


def test_deep_infomax_scores_positive_pairs_higher_after_training(registry, digits_bundle):
    task = build("deep_infomax", digits_bundle, registry)
    images = task.collate(raw(digits_bundle, 32))

    def critic_gap() -> float:
        """Mean critic score of (global i, local of image i) minus (global i, local of j != i)."""
        with torch.no_grad():
            feature_map = task.encoder.feature_map(images)
            global_ = task.head(feature_map.mean(dim=(2, 3)))
            local = task.local_head(feature_map).mean(dim=(2, 3))  # the score is linear in the local
            scores = global_ @ local.T  # [i, j]
            same = torch.eye(len(scores), dtype=torch.bool)
            return (scores[same].mean() - scores[~same].mean()).item()

    before = critic_gap()
    optimiser = torch.optim.AdamW(task.parameters(), lr=2e-3)
    for _ in range(8):
        out = task(images)
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
    after = critic_gap()
    assert after > 0 and after > before + 1.0
    with torch.no_grad():
        assert task(images).metrics["score_gap"] == pytest.approx(after, rel=1e-3)


def test_memory_bank_moves_entries_towards_new_representations():
    bank = MemoryBank(capacity=8, dim=4)
    ids = torch.tensor([11, -5, 7])
    first, second = torch.randn(3, 4), torch.randn(3, 4)
    assert bank.slots(ids).tolist() == [-1, -1, -1]
    bank.update(ids, first, momentum=0.5)
    rows = bank.slots(ids)
    assert sorted(rows.tolist()) == [0, 1, 2]
    assert torch.allclose(bank.memory[rows], F.normalize(first, dim=1))
    bank.update(ids[:2], second[:2], momentum=0.5)
    expected = F.normalize(0.5 * F.normalize(first[:2], dim=1) + 0.5 * F.normalize(second[:2], dim=1), dim=1)
    assert torch.allclose(bank.memory[rows[:2]], expected)
    assert torch.allclose(bank.memory[rows[2]], F.normalize(first[2], dim=0))  # untouched
    restored = MemoryBank(capacity=8, dim=4)
    restored.load_state_dict(bank.state_dict())
    assert torch.equal(restored.slots(ids), rows)
    with pytest.raises(ConfigError, match="bank_size"):
        bank.update(torch.arange(100, 106), torch.randn(6, 4), momentum=0.5)


def test_pirl_updates_the_bank_after_the_step_with_its_momentum(registry, digits_bundle):
    task = build("pirl", digits_bundle, registry, bank_momentum=0.25, bank_size=64)
    samples = raw(digits_bundle, 8)
    batch = task.collate(samples)
    assert batch[0].tolist() == [image_id(x) for x in samples]
    assert len(set(batch[0].tolist())) == 8
    task(batch)
    assert int(task.bank.count) == 0  # nothing is written in forward
    task.on_train_step_end(0.0)
    rows = task.bank.slots(batch[0])
    old = task.bank.memory[rows].clone()
    out = task(batch)
    new_values = F.normalize(task.pending[0][1], dim=1)
    task.on_train_step_end(0.0)
    assert torch.allclose(task.bank.memory[rows], F.normalize(0.25 * old + 0.75 * new_values, dim=1))
    assert torch.isfinite(out.loss)


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

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch_geometric.data import Data

from sslcore import get_registry
from sslcore.build import build_dataset, build_task
from sslcore.engine import TrainConfig, Trainer
from sslcore.testing.steps import train_steps
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.tasks.arga import AdversarialGraphAutoEncoder, AdversarialVariationalGraphAutoEncoder

TASKS = {"arga": AdversarialGraphAutoEncoder, "arvga": AdversarialVariationalGraphAutoEncoder}


def make(cls: type) -> AdversarialGraphAutoEncoder:
    return cls(build_gcn({"num_features": 8}, output_dim=32), latent_dim=16)


def snapshot(params) -> list[torch.Tensor]:
    """Host copies: the trainer may move the task to a GPU, the snapshot stays comparable."""
    return [p.detach().cpu().clone() for p in params]


def changed(before: list[torch.Tensor], params) -> list[bool]:
    return [not torch.equal(a, b.detach().cpu()) for a, b in zip(before, params)]


@pytest.mark.parametrize("name", TASKS)
def test_parameters_split_into_generator_and_discriminator(name: str) -> None:
    task = make(TASKS[name])
    assert task.schedule == "alternating"
    disc = {id(p) for p in task.discriminator_parameters()}
    gen = {id(p) for p in task.generator_parameters()}
    assert disc == {id(p) for p in task.discriminator.parameters()}
    assert gen == {id(p) for p in task.encoder.parameters()} and not disc & gen
    assert disc | gen == {id(p) for p in task.parameters()}


@pytest.mark.parametrize("name", TASKS)
def test_each_phase_only_moves_its_own_parameters(name: str, small_graph: Data) -> None:
    task = make(TASKS[name])
    d_opt = torch.optim.Adam(task.discriminator_parameters(), lr=0.01)
    g_opt = torch.optim.Adam(task.generator_parameters(), lr=0.01)
    batch = task.collate([small_graph])

    gen_before, disc_before = snapshot(task.generator_parameters()), snapshot(task.discriminator_parameters())
    d_loss = task.discriminator_loss(batch).loss
    d_opt.zero_grad()
    d_loss.backward()
    assert all(p.grad is None for p in task.generator_parameters())  # no gradient reaches G
    d_opt.step()
    assert not any(changed(gen_before, task.generator_parameters()))
    assert all(changed(disc_before, task.discriminator_parameters()))

    gen_before, disc_before = snapshot(task.generator_parameters()), snapshot(task.discriminator_parameters())
    g_loss = task.generator_loss(batch).loss
    g_opt.zero_grad()
    g_loss.backward()
    g_opt.step()
    assert not any(changed(disc_before, task.discriminator_parameters()))
    assert all(changed(gen_before, task.generator_parameters()))


@pytest.mark.parametrize("name", TASKS)
def test_generator_steps_against_a_fixed_discriminator_lower_the_generator_loss(
    name: str, small_graph: Data
) -> None:
    torch.manual_seed(0)
    task = make(TASKS[name])
    losses = train_steps(lambda _: task.generator_loss(small_graph), task.generator_parameters(), 40)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.2


@pytest.mark.parametrize("name", TASKS)
def test_the_trainer_runs_both_phases_every_step(name: str, small_graph: Data) -> None:
    task = make(TASKS[name])
    gen_before, disc_before = snapshot(task.generator_parameters()), snapshot(task.discriminator_parameters())
    result = Trainer(task, TrainConfig(steps=3, lr=0.01, log_every=1), None).fit([small_graph], batch_size=1)
    assert result.steps == 3 and torch.isfinite(torch.tensor(result.final_loss))
    assert all(changed(gen_before, task.generator_parameters()))
    assert all(changed(disc_before, task.discriminator_parameters()))


def test_the_discriminator_learns_to_tell_embeddings_from_the_prior(small_graph: Data) -> None:
    torch.manual_seed(0)
    task = make(AdversarialGraphAutoEncoder)
    with torch.no_grad():  # embeddings far from N(0, I): easy to tell apart
        task.encoder.mu.bias.fill_(3.0)
    losses = train_steps(lambda _: task.discriminator_loss(small_graph), task.discriminator_parameters(), 30)
    assert losses[-1] < losses[0] - 0.3


@pytest.mark.parametrize("name", TASKS)
def test_registered_and_built_with_embed_one_row_per_node(name: str) -> None:
    spec = get_registry().task(name)
    assert spec.paradigm.value == "generative-contrastive" and spec.signal == TASKS[name].signal
    bundle = build_dataset("karate")
    task = build_task(name, bundle, encoder_options={"output_dim": 8}, task_options={"latent_dim": 4})
    assert task.embed(bundle.pretrain[0]).shape == (34, 4)


def test_a_graph_without_edges_is_rejected() -> None:
    task = make(AdversarialVariationalGraphAutoEncoder)
    with pytest.raises(ValueError, match="no edges"):
        task.discriminator_loss(Data(x=torch.randn(3, 8), edge_index=torch.empty(2, 0, dtype=torch.long)))


@pytest.mark.parametrize("name", TASKS)
def test_reconstruction_steps_leave_the_discriminator_and_the_prior_out(name: str, small_graph: Data) -> None:
    torch.manual_seed(0)
    task = TASKS[name](build_gcn({"num_features": 8}, output_dim=32), latent_dim=16, reconstruction_steps=2)
    d_opt = torch.optim.Adam(task.discriminator_parameters(), lr=0.01)
    batch = task.collate([small_graph])
    phases = []
    for _ in range(6):  # the reference code's epochs: k = 2 reconstruction steps, then D and G
        before = snapshot(task.discriminator_parameters())
        d_opt.zero_grad(set_to_none=True)
        task.discriminator_loss(batch).loss.backward()
        d_opt.step()
        moved = any(changed(before, task.discriminator_parameters()))
        prior = task.generator_loss(batch).metrics["prior"]
        assert (prior > 0) == moved  # the prior term only in the adversarial step
        phases.append(moved)
        task.on_train_step_end(0.0)
    assert phases == [False, False, True, False, False, True]
    assert task.state_dict()["_extra_state"] == {"steps_taken": 6}  # checkpointed with the weights
    resumed = TASKS[name](
        build_gcn({"num_features": 8}, output_dim=32), latent_dim=16, reconstruction_steps=2
    )
    resumed.load_state_dict(task.state_dict())
    assert resumed.steps_taken == 6 and resumed.adversarial_step == task.adversarial_step


def test_the_trainer_follows_the_reconstruction_schedule(small_graph: Data) -> None:
    def fit(steps: int) -> tuple[bool, bool]:
        torch.manual_seed(0)
        encoder = build_gcn({"num_features": 8}, output_dim=32)
        task = AdversarialGraphAutoEncoder(encoder, reconstruction_steps=3)
        gen, disc = snapshot(task.generator_parameters()), snapshot(task.discriminator_parameters())
        Trainer(task, TrainConfig(steps=steps, lr=0.01, log_every=1), None).fit([small_graph], batch_size=1)
        assert task.steps_taken == steps
        gen_moved = all(changed(gen, task.generator_parameters()))
        return gen_moved, any(changed(disc, task.discriminator_parameters()))

    assert fit(3) == (True, False)  # three reconstruction steps: D untouched
    assert fit(4) == (True, True)  # the fourth is the adversarial step


def test_separate_reconstruction_gives_the_reconstruction_updates_their_own_optimiser(
    small_graph: Data,
) -> None:
    torch.manual_seed(0)
    encoder = build_gcn({"num_features": 8}, output_dim=32)
    task = AdversarialVariationalGraphAutoEncoder(
        encoder, reconstruction_steps=2, separate_reconstruction=True
    )
    assert task.players == ("autoencoder", "discriminator", "generator")
    stepped: list[torch.optim.Optimizer] = []
    handle = register_optimizer_step_post_hook(lambda opt, *_: stepped.append(opt))
    try:  # two reference epochs: 2 reconstruction steps, then the adversarial step
        Trainer(task, TrainConfig(steps=6, lr=0.01, log_every=1), None).fit([small_graph], batch_size=1)
    finally:
        handle.remove()
    autoencoder, discriminator, generator = stepped[:3]
    weight = next(task.generator_parameters())
    # every player's optimiser steps each trainer step, but moves (and counts) only on its phase
    assert autoencoder.state[weight]["step"].item() == 4 and generator.state[weight]["step"].item() == 2
    assert discriminator.state[next(task.discriminator_parameters())]["step"].item() == 2
    # the generator's update follows the prior term alone: its moments differ from the autoencoder's
    assert not torch.equal(autoencoder.state[weight]["exp_avg"], generator.state[weight]["exp_avg"])


def test_separate_reconstruction_needs_reconstruction_steps() -> None:
    with pytest.raises(ValueError, match="reconstruction_steps to at least 1"):
        AdversarialGraphAutoEncoder(
            build_gcn({"num_features": 8}, output_dim=32), separate_reconstruction=True
        )

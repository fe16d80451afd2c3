"""How often a run draws its decision boundary: one rule for the window and the recorder."""

from __future__ import annotations

import pytest
from optiscope.engine import events as ev
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig
from optiscope.engine.runner import execute
from optiscope.engine.trainer import BOUNDARY_PICTURES, boundary_every


def run(epochs: int, dataset: str = "blobs") -> RunConfig:
    return RunConfig(
        dataset=DatasetConfig(name=dataset), training=TrainingConfig(epochs=epochs, device="cpu")
    )


@pytest.mark.parametrize("epochs", [1, 7, 39, 40, 60, 200, 399, 1000])
def test_about_forty_pictures_for_the_longest_run_at_least_one_per_epoch(epochs):
    every = boundary_every([run(3), run(epochs)])
    pictures = max(epochs, 3) // every
    assert every >= 1
    assert pictures >= BOUNDARY_PICTURES or every == 1  # fewer only when there are fewer epochs
    assert pictures < 2 * BOUNDARY_PICTURES


def test_no_pictures_without_2d_data():
    assert boundary_every([run(200, "digits")]) == 0
    assert boundary_every([run(200, "digits"), run(10)]) > 0  # one 2D run: pictures for it


def test_the_engine_draws_the_pictures_at_that_cadence():
    runs = [run(6)]
    bus, got = ev.EventBus(), []
    bus.subscribe(got.append, ev.Boundary)
    execute(runs, bus=bus, boundary_every=boundary_every(runs, pictures=3))
    assert [e.epoch for e in got] == [0, 2, 4, 6]  # the untrained boundary, then every 2 epochs


def _race(n: int, epochs: int = 4) -> list[RunConfig]:
    """``n`` runs that train as one batched computation (blobs, same layers), seeds 0..n-1."""
    base = run(epochs)
    return [
        base.model_copy(update={"training": base.training.model_copy(update={"seed": s})}) for s in range(n)
    ]


def _boundaries(runs, **kw) -> list[ev.Boundary]:
    bus, got = ev.EventBus(), []
    bus.subscribe(got.append, ev.Boundary)
    results = execute(runs, bus=bus, boundary_every=2, keep_models=True, **kw)
    return got, results


@pytest.mark.parametrize("batched", [True, False])
def test_every_run_gets_boundaries_by_default(batched):
    got, _ = _boundaries(_race(3), batched=batched)
    assert sorted((e.run, e.epoch) for e in got) == [(r, ep) for r in range(3) for ep in (0, 2, 4)]


@pytest.mark.parametrize("batched", [True, False])
def test_only_the_given_runs_get_boundaries_and_they_are_their_models(batched):
    """``boundary_runs``: the other runs' pictures are neither emitted nor computed, and each
    picture drawn is its own run's model (torch's softmax of the returned module on the grid)."""
    import numpy as np
    import torch
    from optiscope.engine.data import load_dataset
    from optiscope.engine.trainer import dataset_boundary_grid

    runs = _race(4)
    got, results = _boundaries(runs, batched=batched, boundary_runs=[0, 2, 3])
    assert sorted((e.run, e.epoch) for e in got) == [(r, ep) for r in (0, 2, 3) for ep in (0, 2, 4)]
    xs, ys = dataset_boundary_grid(load_dataset(runs[0].dataset))
    gx, gy = np.meshgrid(xs, ys)
    points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1))
    for e in got:
        if e.epoch != 4:
            continue
        model = results[e.run].model.eval()
        with torch.no_grad():
            want = torch.softmax(model(points).float(), 1).numpy().reshape(len(ys), len(xs), -1)
        np.testing.assert_allclose(e.probs, want, atol=1e-5)
    assert not _boundaries(runs, batched=batched, boundary_runs=[])[0]  # none asked: none computed


@pytest.mark.parametrize("batched", [True, False])
def test_only_the_given_runs_send_weight_snapshots_and_they_are_their_weights(batched):
    """``weights_runs`` (a seeded race's leads): the other runs send no ``Weights``; the given
    ones send every snapshot they would send alone, the last one their returned model's
    parameters (torch's ``parameters_to_vector``)."""
    import numpy as np
    import torch

    runs = _race(3, epochs=2)

    def snapshots(**kw):
        bus, got = ev.EventBus(), []
        bus.subscribe(got.append, ev.Weights)
        results = execute(runs, bus=bus, weights_every=5, keep_models=True, batched=batched, **kw)
        return got, results

    every, _ = snapshots()
    some, results = snapshots(weights_runs=[0, 2])
    assert {e.run for e in every} == {0, 1, 2}
    assert [(e.run, e.step) for e in some] == [(e.run, e.step) for e in every if e.run in (0, 2)]
    for r in (0, 2):
        last = [e for e in some if e.run == r][-1]
        want = torch.nn.utils.parameters_to_vector(results[r].model.parameters()).detach().numpy()
        np.testing.assert_allclose(last.vector, want, rtol=0, atol=1e-6)
    assert not snapshots(weights_runs=[])[0]

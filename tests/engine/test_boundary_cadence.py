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

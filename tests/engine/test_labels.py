"""Run labels: generated from what differs between compared runs (issue 11, 1.2)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from optiscope.engine.config import (
    SGD,
    Adam,
    Constant,
    Cosine,
    Cyclic,
    DatasetConfig,
    OneCycle,
    RegularizationConfig,
    RunConfig,
)
from optiscope.engine.labels import describe_run, race_labels


def test_plain_sgd_and_momentum_sgd_are_told_apart():
    labels = race_labels([RunConfig(optimizer=SGD(lr=0.01)), RunConfig(optimizer=SGD(lr=0.01, momentum=0.9))])
    assert labels == ["sgd momentum=0", "sgd momentum=0.9"]
    assert (
        describe_run(RunConfig(optimizer=SGD(momentum=0.9, nesterov=True)))
        == "sgd lr=0.01 momentum=0.9 nesterov"
    )


def test_rate_setting_schedules_are_named_by_their_schedule_not_the_unused_lr():
    clr = RunConfig(optimizer=Adam(lr=0.001), schedule=Cyclic(base_lr=1e-4, max_lr=0.01, step_size=400))
    one = RunConfig(optimizer=SGD(lr=0.05), schedule=OneCycle(max_lr=0.3))
    assert describe_run(clr) == "adam CLR triangular 0.0001-0.01 step=400"
    assert describe_run(one) == "sgd one-cycle max=0.3"
    fixed = RunConfig(optimizer=Adam(lr=0.001))
    assert race_labels([fixed, clr]) == ["adam lr=0.001 constant", "adam CLR triangular 0.0001-0.01 step=400"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (
            RunConfig(regularization=RegularizationConfig(l2=1e-3)),
            RunConfig(),
            ["sgd l2=0.001", "sgd l2=0"],
        ),
        (RunConfig(schedule=Cosine()), RunConfig(schedule=Constant()), ["sgd cosine", "sgd constant"]),
        (
            RunConfig(dataset=DatasetConfig(name="moons")),
            RunConfig(dataset=DatasetConfig(name="blobs", n_samples=300)),
            ["sgd moons", "sgd blobs n_samples=300"],
        ),
        (RunConfig(optimizer=SGD()), RunConfig(optimizer=Adam()), ["sgd lr=0.01", "adam lr=0.001"]),
    ],
)
def test_labels_name_what_differs(a, b, expected):
    assert race_labels([a, b]) == expected


def test_other_optimizers_defaults_do_not_clutter_a_mixed_race():
    labels = race_labels([RunConfig(optimizer=SGD(momentum=0.9)), RunConfig(optimizer=Adam(beta2=0.99))])
    assert labels == ["sgd lr=0.01 momentum=0.9", "adam lr=0.001 beta2=0.99"]


def test_user_labels_are_kept_and_repeats_numbered():
    runs = [RunConfig(label="baseline"), RunConfig(), RunConfig()]
    assert race_labels(runs) == ["baseline", "sgd lr=0.01", "sgd lr=0.01 #2"]
    assert race_labels([RunConfig(optimizer=SGD(momentum=0.5))]) == ["sgd lr=0.01 momentum=0.5"]


def test_labels_module_is_light():
    code = "import sys; import optiscope.engine.labels; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

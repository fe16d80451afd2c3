"""Training reuses freed memory (engine.memory): a run's large temporaries -- a batched step's
activations, evaluation blocks, the Inside probe -- are not faulted in from the system again
at every step, as glibc's default thresholds made them (about 50,000 page faults in one
128-run sweep). The count comes from the operating system (``getrusage``)."""

from __future__ import annotations

import platform
import resource

import pytest
import torch
from optiscope.engine.presets import get_preset
from optiscope.engine.runner import execute

torch.set_num_threads(1)
pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")


def seeded_lr_sweep(epochs: int, seeds: int) -> list:
    """The lr-sweep's eight runners, each with ``seeds`` seeds (one batched group of 8 x seeds)."""
    out = []
    for cfg in get_preset("lr-sweep").with_overrides(epochs=epochs).runs():
        for j in range(seeds):
            training = cfg.training.model_copy(update={"seed": cfg.training.seed + j})
            out.append(cfg.model_copy(update={"training": training}))
    return out


def test_a_batched_sweep_does_not_fault_its_temporaries_in_again():
    runs = seeded_lr_sweep(epochs=3, seeds=16)
    execute(runs, log=lambda _m: None)  # imports, first allocations, caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    execute(runs, log=lambda _m: None)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # 128 runs x 3 epochs touch ~5,000 pages of temporaries per epoch; kept, they fault once
    assert faults < 1000, f"{faults} page faults in a second identical run"

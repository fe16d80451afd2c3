"""The schedule registry walked part by part (CONVENTIONS rule 20).

Every registered schedule must have a config class in the schema and a title in the
panel, build its scheduler inside :class:`engine.optim.LRSchedule` (with and without a
warm-up in front), be previewed (or say in words why its curve depends on the run), and
give the same rate at every update whether its run trains alone or batched.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from optiscope.engine import config as C
from optiscope.engine import schedules
from optiscope.engine.optim import lr_preview
from optiscope.engine.schedules.base import SchedulePart

torch.set_num_threads(1)

PARTS = sorted(schedules.REGISTRY.items())
# 100 training points, batch 8: 13 updates per epoch, 4 epochs = 52 updates
BASE = {"dataset": {"name": "blobs", "n_samples": 200}, "training": {"epochs": 4, "batch_size": 8, "seed": 3}}


def run(kind: str, **fields) -> C.RunConfig:
    return C.RunConfig.model_validate(
        {**BASE, "optimizer": {"kind": "sgd", "lr": 0.05}, "schedule": {"kind": kind, **fields}}
    )


@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_every_schedule_part_is_in_the_schema_and_the_panel(kind: str, part: type[SchedulePart]):
    assert C.SCHEDULE_CLASSES[kind] is part.config
    cfg = run(kind)
    assert type(cfg.schedule) is part.config
    assert C.loads_toml(C.dumps_toml(C.ExperimentConfig(base=cfg))).base == cfg
    assert part.title
    assert part.words(cfg.schedule)  # run labels and the Runs tab say it in words
    from optiscope.engine.optim import PER_EPOCH_KINDS

    assert (kind in PER_EPOCH_KINDS) == part.per_epoch


@pytest.mark.parametrize("warmup", [0, 5])
@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_every_schedule_is_previewed(kind: str, part: type[SchedulePart], warmup: int):
    cfg = run(kind, warmup_steps=warmup)
    lrs = lr_preview(cfg.optimizer, cfg.schedule, 13, 4)
    assert len(lrs) == 52 and all(math.isfinite(v) and v > 0 for v in lrs)
    if warmup:  # the warm-up rises linearly from start_factor * lr in front of every schedule
        assert lrs[0] == pytest.approx(0.05 * cfg.schedule.warmup_start_factor)
    if part.metric_driven:  # its curve depends on the run: the rule says it in words
        assert part.rule(cfg.schedule, 13)


@pytest.mark.parametrize(("kind", "part"), PARTS)
def test_every_schedule_gives_the_same_rates_alone_and_batched(kind: str, part: type[SchedulePart]):
    from optiscope.engine.sweep import train_batched
    from optiscope.engine.trainer import train

    fields = {"monitor": "train_loss", "patience": 0, "min_delta": 100.0} if part.metric_driven else {}
    cfgs = [run(kind, **fields), run(kind, warmup_steps=5, **fields)]
    batched = train_batched(cfgs, [0, 1])
    for c, rb in zip(cfgs, batched, strict=True):
        ra = train(c)
        assert len(ra.step_lr) == 52
        np.testing.assert_array_equal(
            rb.step_lr, ra.step_lr, err_msg=f"{kind}: alone and batched rates differ"
        )
        if not part.metric_driven:  # the preview is what training uses
            np.testing.assert_array_equal(ra.step_lr, lr_preview(c.optimizer, c.schedule, 13, 4))

"""The schedules of issue 21 (WSD, linear, polynomial, multistep, inverse square root)
against their closed forms and the ``torch.optim.lr_scheduler`` classes driven directly:
in the preview, in training alone and batched, and in ``steps.csv`` of ``optiscope run``.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from optiscope.engine import config as C
from optiscope.engine.cli import main
from optiscope.engine.optim import lr_preview
from optiscope.engine.schedules import WSD

torch.set_num_threads(1)

LR = 0.05
BASE = {"dataset": {"name": "blobs", "n_samples": 200}, "training": {"epochs": 4, "batch_size": 8, "seed": 3}}
SPE, EPOCHS = 13, 4  # 100 training points, batch 8
TOTAL = SPE * EPOCHS


def warm(w: int, start: float) -> list[float]:
    """torch ``LinearLR`` warm-up, written out: from ``start * lr`` rising by equal steps."""
    return [LR * (start + (1 - start) * i / w) for i in range(w)]


def wsd_closed_form(total: int, w: int, fraction: float, shape: str, floor: float) -> list[float]:
    """Hägele et al. (2024) cooldown: constant, then over the last ``round(fraction * total)``
    updates ``t`` runs 0 -> (D-1)/D and the rate is the shape at ``t`` (floor at t = 1)."""
    d = max(round(fraction * total), 1)
    out = []
    for step in range(w, total):
        t = max(step - (total - d), 0) / d
        f = {
            "linear": 1 - (1 - floor) * t,
            "cosine": floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)),
            "1-sqrt": floor + (1 - floor) * (1 - math.sqrt(t)),
        }[shape]
        out.append(LR * f)
    return out


def torch_rates(make, n: int) -> list[float]:
    """The rates a ``torch.optim.lr_scheduler`` class gives over ``n`` updates, driven directly."""
    o = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    s = make(o)
    out = []
    for _ in range(n):
        out.append(o.param_groups[0]["lr"])
        o.step()
        s.step()
    return out


def expected(kind: str, w: int, fields: dict) -> list[float]:
    """The whole run's rates: the warm-up, then the schedule's own reference from update 0."""
    rest = TOTAL - w
    sch = torch.optim.lr_scheduler
    if kind == "wsd":
        main_phase = wsd_closed_form(
            TOTAL,
            w,
            fields.get("decay_fraction", 0.1),
            fields.get("decay_shape", "1-sqrt"),
            fields.get("floor", 0.0),
        )
    elif kind == "linear":
        end, n = fields.get("end_factor", 0.0), fields.get("decay_steps") or rest
        main_phase = torch_rates(lambda o: sch.LinearLR(o, 1.0, end, total_iters=n), rest)
    elif kind == "polynomial":
        p, n = fields.get("power", 1.0), fields.get("decay_steps") or rest
        main_phase = torch_rates(lambda o: sch.PolynomialLR(o, total_iters=n, power=p), rest)
    elif kind == "multistep":
        ms = fields.get("milestones") or [rest // 2, rest * 3 // 4]
        g = fields.get("gamma", 0.1)
        main_phase = torch_rates(lambda o: sch.MultiStepLR(o, milestones=ms, gamma=g), rest)
    else:  # inverse_sqrt: lr * sqrt(w / max(step, w)) with the run's update count ``step``
        t = fields.get("timescale") or w or round(0.1 * TOTAL)
        if t == w:
            main_phase = [LR * math.sqrt(w / max(step, w)) for step in range(w, TOTAL)]
        else:
            main_phase = [LR * math.sqrt(t / (i + t)) for i in range(rest)]
    return (warm(w, 0.01) if w else []) + main_phase


CASES = [
    ("wsd", {}),
    ("wsd", {"decay_fraction": 0.3, "decay_shape": "linear", "floor": 0.1}),
    ("wsd", {"decay_fraction": 0.25, "decay_shape": "cosine"}),
    ("wsd", {"decay_fraction": 0.5, "decay_shape": "1-sqrt", "floor": 0.05}),
    ("linear", {}),
    ("linear", {"end_factor": 0.25, "decay_steps": 20}),
    ("polynomial", {}),
    ("polynomial", {"power": 2.0}),
    ("polynomial", {"power": 0.5, "decay_steps": 60}),
    ("multistep", {}),
    ("multistep", {"milestones": [5, 17, 30], "gamma": 0.5}),
    ("inverse_sqrt", {}),
    ("inverse_sqrt", {"timescale": 7}),
]


def run(kind: str, warmup: int = 0, **fields) -> C.RunConfig:
    sched = {"kind": kind, **fields, **({"warmup_steps": warmup} if warmup else {})}
    return C.RunConfig.model_validate({**BASE, "optimizer": {"kind": "sgd", "lr": LR}, "schedule": sched})


@pytest.mark.parametrize("warmup", [0, 6])
@pytest.mark.parametrize(("kind", "fields"), CASES)
def test_preview_is_the_closed_form_or_the_torch_class(kind, fields, warmup):
    cfg = run(kind, warmup, **fields)
    lrs = lr_preview(cfg.optimizer, cfg.schedule, SPE, EPOCHS)
    np.testing.assert_allclose(lrs, expected(kind, warmup, fields), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("kind", "fields"), CASES)
def test_training_alone_and_batched_use_the_closed_form(kind, fields):
    from optiscope.engine.sweep import train_batched
    from optiscope.engine.trainer import train

    cfgs = [run(kind, 0, **fields), run(kind, 6, **fields)]
    for c, rb, w in zip(cfgs, train_batched(cfgs, [0, 1]), (0, 6), strict=True):
        want = expected(kind, w, fields)
        np.testing.assert_allclose(train(c).step_lr, want, rtol=1e-12, atol=0)
        np.testing.assert_allclose(rb.step_lr, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["wsd", "linear", "polynomial", "multistep", "inverse_sqrt"])
def test_each_new_kind_is_valid_alone(kind):
    cfg = C.loads_toml(f'[base.schedule]\nkind = "{kind}"\n', "k.toml").base.schedule
    assert cfg.kind == kind
    assert C.loads_toml(C.dumps_toml(C.ExperimentConfig(base=run(kind))), "r.toml").base == run(kind)


def test_warmup_hands_over_at_the_right_step():
    """The warm-up ends at update w - 1 below the peak; update w is the main phase's first (the peak)."""
    w = 10
    for kind in ("wsd", "linear", "polynomial", "multistep", "inverse_sqrt"):
        lrs = lr_preview(C.SGD(lr=LR), run(kind, w).schedule, SPE, EPOCHS)
        assert lrs[w - 1] == pytest.approx(LR * (0.01 + 0.99 * (w - 1) / w), rel=1e-12), kind
        assert lrs[w] == pytest.approx(LR, rel=1e-12), kind
        assert lrs[w + 1] <= LR


def test_wsd_decays_only_over_the_last_fraction():
    lrs = lr_preview(C.SGD(lr=LR), WSD(decay_fraction=0.25, warmup_steps=4), SPE, EPOCHS)
    d = round(0.25 * TOTAL)
    assert all(v == LR for v in lrs[4 : TOTAL - d + 1])
    assert all(b < a for a, b in zip(lrs[TOTAL - d :], lrs[TOTAL - d + 1 :], strict=False))


def test_multistep_milestones_must_increase():
    with pytest.raises(C.ConfigError, match=r"schedule\.milestones.*must increase"):
        C.loads_toml('[base.schedule]\nkind = "multistep"\nmilestones = [10, 5]\n', "m.toml")
    with pytest.raises(C.ConfigError, match=r"schedule\.decay_shape"):
        C.loads_toml('[base.schedule]\nkind = "wsd"\ndecay_shape = "sqrt"\n', "m.toml")


EXPERIMENT = """
name = "new-schedules"
[base.dataset]
name = "blobs"
n_samples = 200
[base.training]
epochs = 4
batch_size = 8
seed = 3
device = "cpu"
[base.optimizer]
kind = "sgd"
lr = 0.05
[[variations]]
schedule = { kind = "wsd", warmup_steps = 6 }
[[variations]]
schedule = { kind = "wsd", decay_fraction = 0.3, decay_shape = "cosine", floor = 0.1 }
[[variations]]
schedule = { kind = "linear", end_factor = 0.25 }
[[variations]]
schedule = { kind = "polynomial", power = 2.0, warmup_steps = 6 }
[[variations]]
schedule = { kind = "multistep", milestones = [5, 17, 30], gamma = 0.5 }
[[variations]]
schedule = { kind = "inverse_sqrt", warmup_steps = 6 }
"""


def test_steps_csv_lrs_equal_the_closed_form(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    f = tmp_path / "exp.toml"
    f.write_text(EXPERIMENT)
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    with open(tmp_path / "o" / "steps.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    exp = C.load_toml(f)
    for i, cfg in enumerate(exp.runs()):
        s = cfg.schedule.model_dump()
        kind, w = s.pop("kind"), s.pop("warmup_steps")
        s.pop("warmup_start_factor")
        got = [float(r["lr"]) for r in rows if r["run"] == str(i)]
        np.testing.assert_allclose(
            got, expected(kind, w, {k: v for k, v in s.items() if v is not None}), rtol=1e-9
        )

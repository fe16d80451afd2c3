"""The search space: parsing, one-line errors, fitting to a run config, applying trial values."""

from __future__ import annotations

import pytest
from optiscope.engine.config import ExperimentConfig, RunConfig, dumps_toml, loads_toml
from optiscope.engine.search_space import (
    Choice,
    FloatRange,
    IntRange,
    SearchSpaceError,
    apply_params,
    check_space,
    grid_points,
    load_space,
    parse_space,
)

BASE = RunConfig()


def space(params: dict, **kw) -> dict:
    return {"params": params, **kw}


@pytest.mark.parametrize(
    ("params", "sampler", "expected"),
    [
        (
            {"optimizer.lr": {"low": 1.0, "high": 0.1}},
            None,
            "'optimizer.lr': empty range (low = 1 is not below high = 0.1)",
        ),
        ({"optimizer.lr": {"low": 0.0, "high": 1.0, "log": True}}, None, "a log scale needs bounds above 0"),
        (
            {"optimizer.lrr": {"low": 0.1, "high": 1.0}},
            None,
            "unknown field ('lrr' is not in optimizer; fields there: kind, lr",
        ),
        (
            {"optimizer.lr": {"low": 0.1, "high": 1.0}},
            "grid",
            "a grid search needs the values to try on a continuous range; add points",
        ),
        (
            {"optimizer.momentum": {"low": 0.0, "high": 1.0}},
            None,
            "high = 1.0 is not allowed there (optimizer.momentum: Input should be less than 1",
        ),
        ({"model.layers.0.activation": {"low": 1, "high": 3}}, None, "not a numeric field (it holds 'relu')"),
        ({"optimizer.lr": {"low": 0.1, "hi": 1.0}}, None, "key 'hi': unknown key"),
        (
            {"optimizer.lr": {"low": 0.1, "high": 1.0, "points": [2.0]}},
            None,
            "grid point 2 lies outside [0.1, 1]",
        ),
        ({"training.batch_size": {"choices": []}}, None, "empty list of choices"),
        ({}, None, "no parameters to search"),
    ],
)
def test_bad_space_one_line_naming_the_problem(params, sampler, expected):
    with pytest.raises(SearchSpaceError) as err:
        check_space(parse_space(space(params)), BASE, sampler)
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg


def test_bad_objective_and_sampler_list_the_allowed_values():
    with pytest.raises(SearchSpaceError, match="objective: must be one of final_val_loss, best_val_loss"):
        parse_space(space({"optimizer.lr": {"low": 0.1, "high": 1.0}}, objective="loss"))
    with pytest.raises(SearchSpaceError, match="sampler: must be one of random, grid, tpe, qmc"):
        parse_space(space({"optimizer.lr": {"low": 0.1, "high": 1.0}}, sampler="bayes"))


def test_kinds_are_inferred_then_fitted_to_the_field():
    s = parse_space(space({"regularization.l2": {"low": 0, "high": 1}}))
    assert isinstance(s.params["regularization.l2"], IntRange)  # as written: whole-number bounds
    fitted = check_space(s, BASE)
    assert fitted.params["regularization.l2"] == FloatRange(low=0.0, high=1.0)  # a real-valued field
    s = parse_space(
        space(
            {
                "training.batch_size": {"low": 16, "high": 64, "step": 16},
                "model.layers.0.units": {"low": 4.0, "high": 64.0, "points": [8.0, 32.0]},
                "optimizer.kind": {"choices": ["sgd", "adam"]},
            }
        )
    )
    fitted = check_space(s, BASE, "grid")
    assert grid_points(fitted.params["training.batch_size"]) == [16, 32, 48, 64]
    assert fitted.params["model.layers.0.units"] == IntRange(low=4, high=64, points=(8, 32))
    assert isinstance(fitted.params["optimizer.kind"], Choice)
    with pytest.raises(SearchSpaceError, match="an integer field takes whole-number bounds"):
        check_space(parse_space(space({"training.batch_size": {"low": 1.5, "high": 64.0}})), BASE)


def test_apply_params_sets_fields_and_switches_kinds():
    cfg = apply_params(
        BASE,
        {"optimizer.lr": 0.3, "optimizer.kind": "adam", "model.layers.0.units": 7, "training.batch_size": 8},
        label="t",
    )
    assert cfg.optimizer.kind == "adam" and cfg.optimizer.lr == 0.3 and cfg.optimizer.beta1 == 0.9
    assert cfg.model.layers[0].units == 7 and cfg.training.batch_size == 8 and cfg.label == "t"
    assert BASE.optimizer.kind == "sgd"  # the base is untouched


def test_search_section_round_trips_through_toml(tmp_path):
    text = """
name = "x"
[search]
objective = "best_val_acc"
trials = 5
[search.params]
"optimizer.lr" = { low = 1e-4, high = 1.0, log = true, points = [1e-3, 1e-1] }
"training.batch_size" = { choices = [16, 32] }
"""
    exp = loads_toml(text)
    assert exp.search is not None and exp.search.trials == 5
    assert exp.search.params["optimizer.lr"] == FloatRange(low=1e-4, high=1.0, log=True, points=(1e-3, 1e-1))
    again = loads_toml(dumps_toml(exp))
    assert again == exp
    assert ExperimentConfig().search is None
    # a space file holds the section, or its keys at the top level
    (tmp_path / "a.toml").write_text(text)
    (tmp_path / "b.toml").write_text(
        text.replace('name = "x"\n[search]\n', "").replace("[search.params]", "[params]")
    )
    assert load_space(tmp_path / "a.toml") == load_space(tmp_path / "b.toml") == exp.search
    with pytest.raises(SearchSpaceError, match="no such file"):
        load_space(tmp_path / "missing.toml")


def test_bad_search_section_in_an_experiment_is_a_config_error():
    from optiscope.engine.config import ConfigError

    with pytest.raises(ConfigError, match="empty range"):
        loads_toml('[search.params]\n"optimizer.lr" = { low = 1.0, high = 0.5 }\n')


# ------------------------------------------------------------------ settings the run ignores (issue 18.8)
def _torch_rates(make_sched, lr: float, steps: int = 30) -> list[float]:
    """The rates torch's own scheduler gives an SGD optimizer whose rate is ``lr``."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_sched(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


@pytest.mark.parametrize(
    ("schedule", "make_sched"),
    [
        (
            {"kind": "cyclic", "base_lr": 1e-3, "max_lr": 0.1, "step_size": 5},
            lambda o: __import__("torch").optim.lr_scheduler.CyclicLR(
                o, base_lr=1e-3, max_lr=0.1, step_size_up=5, cycle_momentum=False
            ),
        ),
        (
            {"kind": "one_cycle", "max_lr": 0.1},
            lambda o: __import__("torch").optim.lr_scheduler.OneCycleLR(
                o, max_lr=0.1, total_steps=30, cycle_momentum=False
            ),
        ),
        (
            {"kind": "step", "step_epochs": 1, "gamma": 0.5},
            lambda o: __import__("torch").optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5),
        ),
        (
            {"kind": "cosine", "t_max_steps": 30},
            lambda o: __import__("torch").optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
        ),
    ],
)
def test_optimizer_lr_is_unused_exactly_where_torchs_scheduler_ignores_it(schedule, make_sched):
    """torch's own schedulers decide: the optimizer's rate is unused where lr = 1 and lr = 1e-4
    give the same rates; a search over it there trains the same run every trial."""
    from optiscope.engine.search_space import unused_params

    ignored_by_torch = _torch_rates(make_sched, 1.0) == _torch_rates(make_sched, 1e-4)
    base = RunConfig.model_validate({"schedule": schedule})
    unused = unused_params(["optimizer.lr", "optimizer.momentum"], base)
    assert ("optimizer.lr" in unused) == ignored_by_torch
    assert "optimizer.momentum" not in unused
    if ignored_by_torch:
        assert "schedule.max_lr" in unused["optimizer.lr"]
    # a warm-up ramps the optimizer's own rate first: then it is used
    warm = RunConfig.model_validate({"schedule": {**schedule, "warmup_steps": 10}})
    assert unused_params(["optimizer.lr"], warm) == {}
    # a search that also varies the schedule's kind may use it in some trials
    assert unused_params(["optimizer.lr", "schedule.kind"], base) == {}


def test_cyclic_gamma_is_unused_outside_exp_range():
    """torch's CyclicLR: gamma scales the amplitude in exp_range mode only."""
    import torch
    from optiscope.engine.search_space import unused_params

    def rates(mode: str, gamma: float) -> list[float]:
        return _torch_rates(
            lambda o: torch.optim.lr_scheduler.CyclicLR(
                o, 1e-3, 0.1, step_size_up=5, mode=mode, gamma=gamma, cycle_momentum=False
            ),
            0.01,
        )

    for mode in ("triangular", "triangular2", "exp_range"):
        ignored = rates(mode, 0.9) == rates(mode, 0.5)
        base = RunConfig.model_validate({"schedule": {"kind": "cyclic", "mode": mode}})
        assert ("schedule.gamma" in unused_params(["schedule.gamma"], base)) == ignored, mode


@pytest.mark.parametrize(
    "schedule", [{"kind": "one_cycle", "max_lr": 0.1}, {"kind": "cyclic", "step_size": 7}]
)
def test_what_unused_params_calls_unused_trains_the_same_run_alone_and_batched(schedule):
    """The engine's runs agree with torch's schedulers: under these schedules the optimizer's
    rate (Adam's too, whose decoupled decay reads the group's rate) changes no update."""
    import numpy as np
    import torch
    from optiscope.engine.runner import execute
    from optiscope.engine.search_space import unused_params

    torch.set_num_threads(1)
    runs = [
        RunConfig.model_validate(
            {
                "label": f"lr {lr:g}",
                "dataset": {"n_samples": 200},
                "optimizer": {"kind": "adamw", "lr": lr},
                "schedule": schedule,
                "training": {"epochs": 2, "device": "cpu"},
            }
        )
        for lr in (1.0, 1e-4)
    ]
    assert "optimizer.lr" in unused_params(["optimizer.lr"], runs[0])
    for batched in (True, False):
        a, b = execute(runs, batched=batched, log=lambda _m: None)
        np.testing.assert_array_equal(a.step_lr, b.step_lr)
        np.testing.assert_array_equal(a.step_loss, b.step_loss)

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

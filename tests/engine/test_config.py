"""Experiment configs: TOML round trip, and every class of config error with a clear message."""

from __future__ import annotations

import pytest
from optiscope.engine import config as C
from optiscope.engine.config import (
    SCHEMA_VERSION,
    SGD,
    Adam,
    BatchNorm,
    ConfigError,
    Conv2d,
    Cyclic,
    DatasetConfig,
    Dense,
    Dropout,
    ExperimentConfig,
    MaxPool,
    ModelConfig,
    Plateau,
    RunConfig,
    dump_toml,
    dumps_toml,
    load_toml,
    loads_toml,
)
from pydantic import ValidationError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        loads_toml(text, "exp.toml")
    msg = str(exc.value)
    head, sep, rest = msg.partition("invalid:")
    assert head.startswith("exp.toml"), msg
    return [line.strip() for line in rest.strip().splitlines()] if sep else [msg]


# --------------------------------------------------------------------------- round trip
def test_defaults_are_the_studies_setup():
    run = RunConfig()
    assert (
        run.dataset.name,
        run.dataset.n_samples,
        run.dataset.centers,
        run.dataset.train_fraction,
        run.dataset.seed,
    ) == ("blobs", 1000, 3, 0.5, 2)
    assert run.model.layers == (Dense(units=50, activation="relu", init="he_uniform"),)
    assert (run.optimizer.kind, run.optimizer.lr, run.training.epochs, run.training.batch_size) == (
        "sgd",
        0.01,
        200,
        32,
    )


def test_toml_round_trip(tmp_path):
    exp = ExperimentConfig(
        name="rt",
        description="round trip",
        base=RunConfig(
            model=ModelConfig(layers=(Dense(units=16), Dropout(p=0.2), BatchNorm(activation="relu"))),
            optimizer=Adam(lr=0.003, amsgrad=True),
            schedule=Cyclic(mode="exp_range", base_lr=1e-4, max_lr=1e-2, step_size=40, warmup_steps=5),
        ),
        variations=(
            {"label": "p", "schedule": {"kind": "plateau", "patience": 2}},
            {"optimizer": {"lr": 0.01}},
        ),
    )
    p = tmp_path / "exp.toml"
    dump_toml(exp, p)
    back = load_toml(p)
    assert back == exp
    runs = back.runs()
    assert runs[0].label == "p" and isinstance(runs[0].schedule, Plateau) and runs[0].schedule.patience == 2
    assert runs[1].optimizer.lr == 0.01 and runs[1].optimizer.amsgrad  # merged into the base
    assert runs[1].label == "lr=0.01"
    assert loads_toml(dumps_toml(exp)) == exp


def test_frozen():
    cfg = RunConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.label = "x"


# --------------------------------------------------------------------------- errors
def test_bad_value_names_field_value_and_range():
    (line,) = problems('[base.optimizer]\nkind = "sgd"\nlr = 500.0\n')
    assert line == "base.optimizer.lr: Input should be less than or equal to 100 (got 500.0)"
    (line,) = problems("[base.training]\nbatch_size = 0\n")
    assert line == "base.training.batch_size: Input should be greater than or equal to 1 (got 0)"
    (line,) = problems('[base.model]\nlayers = [{type = "dropout", p = 1.5}]\n')
    assert line.startswith("base.model.layers.0.p: ") and "less than 1" in line and "(got 1.5)" in line


def test_not_finite_value():
    with pytest.raises(ConfigError, match=r"base.optimizer.lr: nan is not a finite number"):
        loads_toml('[base.optimizer]\nkind = "sgd"\nlr = nan\n')


def test_wrong_type():
    (line,) = problems('[base.training]\nepochs = "ten"\n')
    assert line.startswith("base.training.epochs: Input should be a valid integer") and "(got 'ten')" in line
    (line,) = problems("[base]\ntraining = 3\n")
    assert line.startswith("base.training: ")


@pytest.mark.parametrize(
    "text, where, allowed, suggestion",
    [
        ('nmae = "x"\n', "nmae", "schema_version, name, description", "name"),
        (
            '[base.optimizer]\nkind = "adam"\nbeta_1 = 0.8\n',
            "base.optimizer.beta_1",
            "kind, lr, beta1, beta2, eps, weight_decay, amsgrad",
            "beta1",
        ),
        (
            '[base.schedule]\nkind = "plateau"\npatients = 3\n',
            "base.schedule.patients",
            "monitor, factor, patience",
            "patience",
        ),
        (
            '[base.model]\nlayers = [{type = "dense", unit = 3}]\n',
            "base.model.layers.0.unit",
            "type, units, activation, init",
            "units",
        ),
        (
            "[base.regularization.early_stopping]\nenabeld = true\n",
            "base.regularization.early_stopping.enabeld",
            "enabled, monitor, patience, min_delta, restore_best",
            "enabled",
        ),
        ("[base.training]\nxyzzy = 1\n", "base.training.xyzzy", "epochs, batch_size, device", None),
    ],
)
def test_unknown_key_names_allowed_keys(text, where, allowed, suggestion):
    (line,) = problems(text)
    assert line.startswith(f"{where}: unknown key '{where.rsplit('.', 1)[-1]}'; allowed keys here: ")
    assert allowed in line
    if suggestion:
        assert line.endswith(f"did you mean '{suggestion}'?")
    else:
        assert "did you mean" not in line


def test_wrong_kind_lists_the_kinds():
    (line,) = problems('[base.optimizer]\nkind = "sgdd"\n')
    assert (
        line.startswith("base.optimizer: ") and "'sgdd'" in line and "'adam'" in line and "'adadelta'" in line
    )
    (line,) = problems('[base.schedule]\nkind = "cosin"\n')
    assert "'cosine'" in line and "'plateau'" in line
    (line,) = problems("[base.optimizer]\nlr = 0.1\n")  # no kind at all
    assert line.startswith("base.optimizer: no 'kind' key") and "kind = 'sgd'" in line and "'rmsprop'" in line


def test_bad_toml_names_the_place():
    with pytest.raises(ConfigError, match=r"exp.toml is not valid TOML: .*line 2"):
        loads_toml('name = "x"\n[base\n', "exp.toml")


def test_missing_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file; check the path"):
        load_toml(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_toml(tmp_path / "bin.toml")


def test_schema_version():
    (line,) = problems(f"schema_version = {SCHEMA_VERSION + 1}\n")
    assert line.startswith("schema_version: ") and "not supported" in line and "newer Optiscope" in line
    (line,) = problems("schema_version = 0\n")
    assert "not supported" in line


def test_variation_errors_name_the_variation_one_per_line():
    lines = problems(
        "[[variations]]\noptimizer = { lr = -1.0 }\n"
        '[[variations]]\nlabel = "ok"\n'
        "[[variations]]\ntraining = { epoch = 3 }\n"
    )
    assert lines[0] == "variations[0].optimizer.lr: Input should be greater than 0 (got -1.0)"
    assert lines[1].startswith("variations[2].training.epoch: unknown key 'epoch'; allowed keys here: epochs")
    assert len(lines) == 2


def test_variation_changing_kind_replaces_section():
    exp = loads_toml(
        '[base.optimizer]\nkind = "sgd"\nmomentum = 0.9\n[[variations]]\noptimizer = { kind = "adam" }\n'
    )
    assert exp.runs()[0].optimizer == Adam()
    (line,) = problems(
        '[base.optimizer]\nkind = "sgd"\n[[variations]]\noptimizer = { kind = "adam", momentum = 0.9 }\n'
    )
    assert line.startswith("variations[0].optimizer.momentum: unknown key 'momentum'")


def test_cross_checks():
    (line,) = problems('[base.optimizer]\nkind = "sgd"\nnesterov = true\n')
    assert line.startswith("base.optimizer: optimizer.nesterov = true needs momentum > 0")
    (line,) = problems('[base.model]\nlayers = [{type = "conv2d"}, {type = "dense"}]\n')
    assert "not an image set" in line and "'blobs'" in line and "digits" in line
    (line,) = problems('[base.model]\nlayers = [{type = "dense"}, {type = "maxpool"}]\n')
    assert "base.model: model.layers[1] is maxpool after a flatten/dense layer" in line
    (line,) = problems('[base.schedule]\nkind = "cyclic"\nbase_lr = 0.1\nmax_lr = 0.01\n')
    assert "max_lr (0.01) must be >= schedule.base_lr (0.1)" in line
    (line,) = problems('[base.dataset]\nname = "csv"\npath = "x.csv"\n')
    assert "needs both 'path'" in line
    RunConfig(dataset=DatasetConfig(name="digits"), model=ModelConfig(layers=(Conv2d(), MaxPool(), Dense())))
    SGD(nesterov=True, momentum=0.9)


def test_several_problems_one_per_line():
    lines = problems("[base.training]\nepochs = 0\nbatch_size = 0\nseed = -1\n")
    assert len(lines) == 3
    assert all(line.startswith("base.training.") for line in lines)


def test_single_problem_stays_on_one_line():
    with pytest.raises(ConfigError) as exc:
        loads_toml("[base.training]\nepochs = 0\n", "exp.toml")
    assert "\n" not in str(exc.value)


def test_with_overrides():
    exp = loads_toml("[base.training]\nepochs = 5\n[[variations]]\ntraining = { epochs = 9, seed = 3 }\n")
    over = exp.with_overrides(epochs=2, seed=11)
    (run,) = over.runs()
    assert run.training.epochs == 2 and run.training.seed == 11


def test_kind_lists_are_derived_from_the_config_types():
    """Each list holds exactly the tags the validator accepts (and nothing else)."""
    assert C.OPTIMIZER_KINDS == (
        *("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "adamax", "adadelta"),
        *("radam", "adafactor", "muon", "lion", "schedulefree_adamw", "schedulefree_sgd", "prodigy"),
    )
    assert C.SCHEDULE_KINDS[-5:] == ("wsd", "linear", "polynomial", "multistep", "inverse_sqrt")
    for kind in C.OPTIMIZER_KINDS:
        assert C.RunConfig.model_validate({"optimizer": {"kind": kind}}).optimizer.kind == kind
    for kind in C.SCHEDULE_KINDS:
        assert C.RunConfig.model_validate({"schedule": {"kind": kind}}).schedule.kind == kind
    for layer in C.LAYER_TYPES:
        assert C.ModelConfig.model_validate({"layers": [{"type": layer}]}).layers[0].type == layer
    for act in C.ACTIVATIONS:
        C.Dense(activation=act)
    for init in C.INITIALIZERS:
        C.Dense(init=init)
    assert set(C.DATASET_NAMES) == {*C.SYNTHETIC_DATASETS, *C.BUNDLED_DATASETS, "csv"}
    with pytest.raises(ValidationError):
        C.RunConfig.model_validate({"optimizer": {"kind": "shampoo"}})


@pytest.mark.parametrize(
    "n, bs, expected", [(500, 32, 16), (512, 32, 16), (513, 32, 17), (5, 64, 1), (1, 1, 1)]
)
def test_steps_per_epoch_counts_the_short_last_batch(n, bs, expected):
    assert C.steps_per_epoch(n, bs) == expected == len(range(0, n, bs))


def test_race_experiment_resolves_back_to_its_runs():
    """race_experiment inverts the variation merge: each variation resolves to its run."""
    base = C.RunConfig()
    runs = [
        base,
        base.model_copy(update={"optimizer": C.Adam(lr=0.003)}),
        C.RunConfig.model_validate({"schedule": {"kind": "cyclic", "base_lr": 1e-4, "max_lr": 0.2}}),
        C.RunConfig.model_validate(
            {"training": {"batch_size": 8}, "model": {"layers": [{"type": "dense", "units": 3}]}}
        ),
        base,  # a repeated label gets "#2"
    ]
    exp = C.race_experiment(runs, name="r", description="d", lesson="l")
    assert (exp.name, exp.description, exp.lesson) == ("r", "d", "l")
    resolved = C.loads_toml(C.dumps_toml(exp)).runs()  # through a file, as saved
    assert len(resolved) == len(runs)
    for got, want in zip(resolved, runs, strict=True):
        assert got.model_dump(exclude={"label"}) == want.model_dump(exclude={"label"})
    assert [r.label for r in resolved] == [
        "sgd lr=0.01",
        "adam lr=0.003",
        "sgd lr=0.01 #2",
        "sgd lr=0.01 #3",
        "sgd lr=0.01 #4",
    ]


def test_variation_diff_is_minimal():
    base = C.RunConfig().model_dump()
    run = C.RunConfig.model_validate({"optimizer": {"kind": "sgd", "lr": 0.5}}).model_dump()
    assert C.variation_diff(base, run) == {"optimizer": {"lr": 0.5}}
    run = C.RunConfig.model_validate({"optimizer": {"kind": "adam"}}).model_dump()
    assert C.variation_diff(base, run)["optimizer"]["kind"] == "adam"  # a new kind: the whole section
    assert C.variation_diff(base, base) == {}


def test_formats():
    from optiscope.engine.formats import format_csv, format_short

    assert format_csv(0.1) == "0.1" and float(format_csv(1 / 3)) == 1 / 3
    assert [format_csv(v) for v in (float("nan"), float("inf"), float("-inf"), 3, "a")] == [
        "nan",
        "inf",
        "-inf",
        "3",
        "a",
    ]
    assert [format_short(v) for v in (1 / 3, 12345.678, 1e-7, float("nan"), float("-inf"))] == [
        "0.3333",
        "1.235e+04",
        "1e-07",
        "nan",
        "-inf",
    ]

"""A seeded fuzzing harness for issue 11: hundreds of generated experiment files and CSV files,
and a population of runs at random (often absurd) learning rates.

It asserts the issue's three figures -- 0 tracebacks, 0 silent data loss, 0 "completed" runs
that diverged -- and prints them (``pytest -s tests/engine/test_fuzz.py`` shows them).
"""

from __future__ import annotations

import io
import math
import random
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from optiscope.engine.cli import main
from optiscope.engine.config import OPTIMIZER_KINDS, DatasetConfig, RunConfig
from optiscope.engine.data import DataError
from optiscope.engine.tabular import load_csv_dataset

SEED = 11
N_EXPERIMENTS = 300
N_CSV = 220
N_RUNS = 40


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# --------------------------------------------------------------------------- experiment files
FIELDS = [
    ("base", "training", "epochs"),
    ("base", "training", "batch_size"),
    ("base", "training", "seed"),
    ("base", "training", "device"),
    ("base", "training", "diverge_factor"),
    ("base", "optimizer", "lr"),
    ("base", "optimizer", "momentum"),
    ("base", "optimizer", "kind"),
    ("base", "optimizer", "initial_accumulator_value"),
    ("base", "schedule", "kind"),
    ("base", "schedule", "step_size"),
    ("base", "schedule", "t_max_steps"),
    ("base", "schedule", "max_lr"),
    ("base", "schedule", "eta_min"),
    ("base", "schedule", "warmup_steps"),
    ("base", "dataset", "name"),
    ("base", "dataset", "n_samples"),
    ("base", "dataset", "path"),
    ("base", "dataset", "subsample"),
    ("base", "model", "layers"),
    ("base", "regularization", "grad_clip"),
    ("base", "label"),
    ("independent_seeds",),
    ("schema_version",),
    ("name",),
]
HOSTILE = [
    True,
    "yes",
    "",
    "=1+1",
    2**31,
    2**63 - 1,
    -(2**63),
    -1,
    0,
    1e308,
    -1e308,
    1e-320,
    math.nan,
    math.inf,
    [],
    [1, 2],
    {},
    {"x": 1},
    "x" * 30_000,
    "cuda",
    "mps",
    "adagrad",
    "cyclic",
]


def _valid_base(rng: random.Random) -> dict:
    kind = rng.choice(OPTIMIZER_KINDS)
    sched = rng.choice(
        [{"kind": "constant"}, {"kind": "cyclic", "base_lr": 0.001, "max_lr": 0.1}, {"kind": "cosine"}]
    )
    return {
        "name": "fuzz",
        "base": {
            "dataset": {"name": rng.choice(["blobs", "moons", "spiral"]), "n_samples": 100},
            "optimizer": {"kind": kind, "lr": 10 ** rng.uniform(-4, 1)},
            "schedule": sched,
            "training": {"epochs": 2, "batch_size": 32},
        },
    }


def _set(doc: dict, path: tuple[str, ...], value: object) -> None:
    node = doc
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _experiment_text(rng: random.Random, i: int) -> bytes:
    """One generated experiment file (valid, slightly wrong or hostile)."""
    roll = rng.random()
    if roll < 0.04:
        return rng.choice([b"", b"\n", b"# nothing\n", b"\xff\xfe\x00garbage", b"[base\n", b"name = \n"])
    if roll < 0.10:  # deep nesting
        depth = rng.choice([10, 40, 200, 400, 1000])
        return f"[base]\nlabel = {'[' * depth}{']' * depth}\n".encode()
    doc = _valid_base(rng)
    for _ in range(rng.randint(0, 3)):
        what = rng.random()
        if what < 0.6:
            _set(doc, rng.choice(FIELDS), rng.choice(HOSTILE))
        elif what < 0.7:
            _set(doc, ("base", "optimizer", "momentun"), 0.9)  # unknown key
        elif what < 0.8:
            doc["independent_seeds"] = rng.choice([True, "yes", 1])
            doc["variations"] = [{"training": rng.choice([5, "x", [], {"seed": 3}])}]
        elif what < 0.9:
            n = rng.choice([2, 5, 201, 1000])
            doc["variations"] = [{"optimizer": {"lr": 0.001 * (k + 1)}, "label": f"@v{k}"} for k in range(n)]
        else:
            layers = [{"type": "dense", "units": rng.choice([8, 8192])}] * rng.choice([1, 3, 50, 200])
            _set(doc, ("base", "model", "layers"), layers)
    try:
        return tomli_w.dumps(doc).encode()
    except (TypeError, ValueError):  # a value TOML cannot hold: write the valid document
        return tomli_w.dumps(_valid_base(rng)).encode()


def _run_cli(argv: list[str]) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    except BaseException:
        return None, out.getvalue(), traceback.format_exc()
    return rc, out.getvalue(), err.getvalue()


def test_generated_experiment_files(tmp_path):
    rng = random.Random(SEED)
    tracebacks, valid, refused, bad_messages = [], 0, 0, []
    for i in range(N_EXPERIMENTS):
        p = tmp_path / f"exp{i}.toml"
        p.write_bytes(_experiment_text(rng, i))
        rc, out, err = _run_cli(["validate", str(p)])
        if rc is None or "Traceback" in err:
            tracebacks.append((p.read_bytes()[:200], err[-500:]))
        elif rc == 0:
            valid += 1
        else:
            refused += 1
            first = err.strip().splitlines()[0] if err.strip() else ""
            if rc != 2 or not first.startswith("optiscope validate: error: "):
                bad_messages.append((rc, err[:300]))
    print(
        f"\nfuzz: {N_EXPERIMENTS} experiment files: {valid} valid, {refused} refused with a message, "
        f"{len(tracebacks)} tracebacks, {len(bad_messages)} unclear refusals"
    )
    assert not tracebacks, tracebacks[:3]
    assert not bad_messages, bad_messages[:3]
    assert valid > 20 and refused > 150  # the generator really produces both kinds


# --------------------------------------------------------------------------- CSV files
def _csv_case(rng: random.Random) -> tuple[bytes, int | None]:
    """A generated CSV and the number of data rows a successful load must keep (None: must fail
    or any count is fine because the mutation makes the table ambiguous)."""
    n = rng.randint(20, 80)
    n_feat = rng.randint(1, 4)
    classes = rng.choice([["a", "b"], ["0", "1", "2"], ["=cmd", "@x", "+y"]])
    header = [f"f{j}" for j in range(n_feat)] + ["label"]
    rows = [[f"{rng.gauss(0, 3):.4g}" for _ in range(n_feat)] + [classes[k % len(classes)]] for k in range(n)]
    expect: int | None = n
    mutation = rng.choice(
        [
            "none",
            "quote_open",
            "quote_mid",
            "huge",
            "huge100",
            "inf_text",
            "missing",
            "ragged",
            "text",
            "binary",
            "nul",
            "bom_crlf",
            "blank_lines",
            "semicolon",
            "header_only",
            "empty",
            "single_class",
            "dup_header",
            "big_ok",
        ]
    )
    sep = ","
    if mutation == "quote_open":
        k = rng.randrange(n)
        rows[k][-1] = '"' + rows[k][-1]
    elif mutation == "quote_mid":
        k = rng.randrange(n - 1)
        rows[k][-1] = '"' + rows[k][-1]
        rows[k + 1][-1] = rows[k + 1][-1] + '"'
    elif mutation in ("huge", "huge100"):
        rows[rng.randrange(n)][rng.randrange(n_feat)] = "3.5e38" if mutation == "huge" else "1e100"
    elif mutation == "inf_text":
        rows[rng.randrange(n)][rng.randrange(n_feat)] = rng.choice(["inf", "-inf", "1e999"])
    elif mutation == "missing":
        rows[rng.randrange(n)][rng.randrange(n_feat)] = ""
    elif mutation == "ragged":
        rows[rng.randrange(n)].append("9")
    elif mutation == "text":
        rows[rng.randrange(n)][rng.randrange(n_feat)] = "tall"
    elif mutation == "semicolon":
        sep = ";"
    elif mutation == "single_class":
        for r in rows:
            r[-1] = "a"
    elif mutation == "dup_header":
        header[0] = "label"
    elif mutation == "big_ok":
        for r in rows:
            r[0] = f"{rng.uniform(-1, 1) * 1e37:.4g}"
    text = sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows)
    if mutation == "binary":
        return bytes(rng.randrange(256) for _ in range(300)), None
    if mutation == "nul":
        text = text.replace("\n", "\n\x00", 1)
    if mutation == "bom_crlf":
        return ("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"), n
    if mutation == "blank_lines":
        text = text.replace("\n", "\n\n", 5)
    if mutation == "header_only":
        text = sep.join(header) + "\n"
        expect = None
    if mutation == "empty":
        text = ""
        expect = None
    return text.encode("utf-8"), expect


def test_generated_csv_files(tmp_path):
    rng = random.Random(SEED + 1)
    tracebacks, loaded, refused, lost, nonfinite = [], 0, 0, [], []
    for i in range(N_CSV):
        raw, expect = _csv_case(rng)
        p = tmp_path / f"t{i}.csv"
        p.write_bytes(raw)
        try:
            ds = load_csv_dataset(DatasetConfig(name="csv", path=str(p), target="label"))
        except DataError:
            refused += 1
            continue
        except Exception:
            tracebacks.append((raw[:200], traceback.format_exc()[-500:]))
            continue
        loaded += 1
        kept = len(ds.y_train) + len(ds.y_val)
        if expect is None or kept != expect:
            lost.append((raw[:200], kept, expect))
        if not (np.isfinite(ds.x_train).all() and np.isfinite(ds.x_val).all()):
            nonfinite.append(raw[:200])
    print(
        f"\nfuzz: {N_CSV} CSV files: {loaded} loaded with every row kept, {refused} refused with a "
        f"message, {len(tracebacks)} tracebacks, {len(lost)} silent data loss, {len(nonfinite)} non-finite"
    )
    assert not tracebacks, tracebacks[:3]
    assert not lost, lost[:3]
    assert not nonfinite, nonfinite[:3]
    assert loaded > 30 and refused > 60


# --------------------------------------------------------------------------- runs
CLASSES = {"blobs": 3, "moons": 2, "spiral": 3}


def diverged(res, dataset: str) -> bool:
    """The issue's "diverged": a non-finite final loss, or a final training loss far above
    (over 2x) both where the run started and a uniform guess (ln K). The runs train 5 epochs or
    more: under that, the rule leaves a run alone (it may still be in an early transient)."""
    if not res.epochs:
        return False
    last, start = res.epochs[-1].train_loss, float(res.step_loss[0])
    return not math.isfinite(last) or last > 2 * max(start, math.log(CLASSES[dataset]))


def test_no_completed_run_diverged():
    from optiscope.engine.runner import execute

    rng = random.Random(SEED + 2)
    runs = []
    for i in range(N_RUNS):
        kind = rng.choice(OPTIMIZER_KINDS)
        runs.append(
            RunConfig.model_validate(
                {
                    "label": f"{i}",
                    "dataset": {"name": rng.choice(list(CLASSES)), "n_samples": 120},
                    "optimizer": {"kind": kind, "lr": 10 ** rng.uniform(-3, 2)},
                    "training": {"epochs": rng.choice([5, 10, 25]), "batch_size": 32},
                }
            )
        )
    results = execute(runs, log=lambda s: None)
    reasons = {}
    bad = []
    for cfg, res in zip(runs, results, strict=True):
        reasons[res.reason] = reasons.get(res.reason, 0) + 1
        if res.reason == "completed" and diverged(res, cfg.dataset.name):
            bad.append((cfg.optimizer.kind, cfg.optimizer.lr, [e.train_loss for e in res.epochs][-3:]))
    print(f"\nfuzz: {N_RUNS} runs at random rates 1e-3..100: {reasons}; {len(bad)} 'completed' runs diverged")
    assert not bad, bad
    # both outcomes are covered (Adafactor's lr only caps its relative step: it cannot diverge by rate)
    assert reasons.get("completed", 0) >= 5 and reasons.get("diverged", 0) >= 5

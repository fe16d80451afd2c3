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
    assert reasons.get("completed", 0) > 5 and reasons.get("diverged", 0) > 5


# --------------------------------------------------------------------------- the newer surfaces
# Lesson files, search spaces with the search command's flags, storage URLs and study names,
# record sizes and paths, and store files: every input runs in this process through the command
# line, and refused inputs must be refused by validation before any training starts (training
# is replaced by a sentinel that counts what would have trained). Figures: 0 tracebacks, 0
# unclear refusals, 0 refusals over 60 s, 0 raw escape sequences printed, 0 files touched
# outside --out and the store.
N_LESSONS = 500
N_SPACES = 650
N_STORAGES = 100
N_RECORDS = 450
N_STORES = 300
SLOW_S = 60.0
UNSAFE = ("\x1b", "\x07", "\x9b")  # ESC, BEL and CSI: what drives a terminal


class _WouldTrain(BaseException):
    """Raised where training would start: the input passed every check."""


@pytest.fixture
def no_training(monkeypatch):
    """Training replaced by the sentinel; the command line's parser built once (building it
    is most of the cost of a refused input)."""
    from optiscope.engine import cli, runner

    def would_train(*args, **kwargs):
        raise _WouldTrain

    monkeypatch.setattr(runner, "execute", would_train)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)


class _Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = self.accepted = self.refused = 0
        self.tracebacks: list = []
        self.unclear: list = []
        self.slow: list = []
        self.raw_escapes: list = []

    def judge(self, command: str, argv: list[str], case: object) -> tuple[int | None, str, str]:
        import time

        t0 = time.monotonic()
        out, err = io.StringIO(), io.StringIO()
        try:
            with redirect_stdout(out), redirect_stderr(err):
                rc: int | None = main(argv)
        except _WouldTrain:
            rc = 0
        except SystemExit as exc:
            rc = int(exc.code or 0)
        except BaseException:
            rc = None
            err.write(traceback.format_exc())
        seconds = time.monotonic() - t0
        self.n += 1
        o, e = out.getvalue(), err.getvalue()
        if rc is None or "Traceback" in e:
            self.tracebacks.append((repr(case)[:200], e[-600:]))
        elif rc == 0:
            self.accepted += 1
        else:
            self.refused += 1
            if seconds > SLOW_S:
                self.slow.append((repr(case)[:200], seconds))
            lines = e.strip().splitlines()
            first = lines[0] if lines else ""
            argparse_usage = rc == 2 and first.startswith("usage: ")  # argparse's own two lines
            if not argparse_usage and (rc != 2 or not first.startswith(f"optiscope {command}: error: ")):
                self.unclear.append((repr(case)[:200], rc, e[:300]))
            if any(len(line) > 2000 for line in lines):
                self.unclear.append((repr(case)[:200], "a line over 2,000 characters", len(e)))
        if any(c in o + e for c in UNSAFE):
            self.raw_escapes.append((repr(case)[:200], (o + e)[:300]))
        return rc, o, e

    def report(self) -> str:
        return (
            f"{self.name}: {self.n} inputs, {self.accepted} accepted, {self.refused} refused in one line, "
            f"{len(self.tracebacks)} tracebacks, {len(self.unclear)} unclear, {len(self.slow)} over {SLOW_S:.0f} s, "
            f"{len(self.raw_escapes)} raw escapes"
        )

    def check(self) -> None:
        print("\nfuzz: " + self.report())
        assert not self.tracebacks, self.tracebacks[:3]
        assert not self.unclear, self.unclear[:3]
        assert not self.slow, self.slow[:3]
        assert not self.raw_escapes, self.raw_escapes[:3]


NASTY_TEXT = [
    "",
    " ",
    "=cmd|' /C calc'!A0",
    "\x1b]0;pwned\x07\x1b[2J",
    "line\nforged",
    "tab\there",
    "\u2028sep",
    "ü" * 70,
    "x" * 400,
    "x" * 3_000,
    "\x00nul",
    "٣",
]
NASTY_NUMBERS = [
    True,
    "30",
    0,
    -1,
    1,
    5,
    2**31,
    2**62,
    2**80,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    0.5,
    1e-320,
    [],
    {},
]
BIG_DIGITS = "9" * 5000


def _toml(doc: dict, rng: random.Random) -> bytes:
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        text = 'schema_version = 1\nname = "x"\n[base]\n'
    roll = rng.random()
    if roll < 0.04:
        text += f"\n[zz]\nbig = {BIG_DIGITS}\n"
    elif roll < 0.07:
        depth = rng.choice([50, 400, 3000])
        text += "\n[zz]\ndeep = " + "[" * depth + "]" * depth + "\n"
    elif roll < 0.09:
        text = text[: rng.randrange(len(text) + 1)]  # cut anywhere
    return text.encode("utf-8", "surrogatepass")


def _lesson_case(rng: random.Random) -> bytes:
    doc = _valid_base(rng)
    room: dict = {}
    if rng.random() < 0.6:
        room["question"] = rng.choice(NASTY_TEXT + ["How fast?"])
    if rng.random() < 0.6:
        room["pace_seconds"] = rng.choice([*NASTY_NUMBERS, 30, 40.5])
    observe = []
    for _ in range(rng.choice([0, 1, 3, 24, 25, 60, 300])):
        kind = rng.choice(["threshold", "lr_drop", "best_epoch", "divergence", "gap", "thresold", 3])
        obs: dict = {"kind": kind}
        if rng.random() < 0.7:
            obs["metric"] = rng.choice(["val_acc", "train_loss", "acc", "loss", "val_accc", 1])
        if kind == "threshold" or rng.random() < 0.2:
            obs["value"] = rng.choice([*NASTY_NUMBERS, 0.9, 0.3])
        if rng.random() < 0.3:
            obs["caption"] = rng.choice(NASTY_TEXT)
        if rng.random() < 0.2:
            obs["direction"] = rng.choice(["above", "below", "up"])
        observe.append(obs)
    if observe:
        room["observe"] = observe
    doc["classroom"] = room
    if rng.random() < 0.2:
        doc["base"]["label"] = rng.choice(NASTY_TEXT)
    return _toml(doc, rng)


def test_generated_lesson_files(tmp_path, no_training):
    rng = random.Random(SEED + 3)
    tally = _Tally(f"{N_LESSONS} lesson files")
    for i in range(N_LESSONS):
        p = tmp_path / f"lesson{i}.toml"
        p.write_bytes(_lesson_case(rng))
        tally.judge("validate", ["validate", str(p)], p.read_bytes()[:200])
    tally.check()
    assert tally.accepted > 25 and tally.refused > 200


SPACE_PATHS = [
    "optimizer.lr",
    "optimizer.momentum",
    "optimizer.kind",
    "optimizer.weight_decay",
    "schedule.kind",
    "training.batch_size",
    "training.epochs",
    "dataset.n_samples",
    "label",
    "optimizer.momentun",
    "optimizer..lr",
    "",
    "model.layers.0.units",
    "model.layers.99.units",
    "\x1b[2J",
    "x" * 3000,
]


def _space_spec(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.4:
        spec: dict = {
            "low": rng.choice([*NASTY_NUMBERS, 1e-4, 0.01, 1, 8]),
            "high": rng.choice([*NASTY_NUMBERS, 0.5, 0.9, 64]),
        }
        if rng.random() < 0.3:
            spec["log"] = rng.choice([True, False, "yes"])
        if rng.random() < 0.2:
            spec["points"] = rng.choice([[0.1, 0.2], [], [math.nan], ["a"], list(range(300))])
        if rng.random() < 0.15:
            spec["step"] = rng.choice([1, 0, -2, 0.5])
        return spec
    if roll < 0.8:
        return {
            "choices": rng.choice(
                [["sgd", "adam"], ["adam"], [], [1, "a"], [0.1, 0.01], ["=cmd", "@x"], list(range(2000))]
            )
        }
    return rng.choice([[0.1, 0.2], 3, "x", {"kind": "float", "low": 0.1}, {"bogus": 1}])


VALID_SPECS = {
    "optimizer.lr": {"low": 1e-3, "high": 0.5, "log": True, "points": [0.01, 0.1]},
    "optimizer.momentum": {"low": 0.0, "high": 0.9, "points": [0.0, 0.9]},
    "training.batch_size": {"choices": [16, 32]},
    "optimizer.kind": {"choices": ["sgd", "adam"]},
}


def _space_case(rng: random.Random) -> tuple[bytes, list[str]]:
    if rng.random() < 0.35:  # a valid space, perhaps with one hostile setting or flag
        params = dict(rng.sample(sorted(VALID_SPECS.items()), rng.randint(1, 3)))
    else:
        params = {rng.choice(SPACE_PATHS): _space_spec(rng) for _ in range(rng.choice([0, 1, 2, 3, 6]))}
    section: dict = {"params": params}
    for key, values in (
        ("objective", ["best_val_loss", "final_val_acc", "accuracy", 1]),
        ("sampler", ["random", "grid", "tpe", "qmc", "cmaes"]),
        ("trials", [1, 16, 0, -5, 100_001, 2**62, "8"]),
        ("seed", [0, 2**32 - 1, 2**32, 2**62, -1, None]),
        ("pruning", [True, "no"]),
    ):
        if rng.random() < 0.3:
            v = rng.choice(values)
            if v is not None:
                section[key] = v
    doc = {"search": section} if rng.random() < 0.8 else section
    flags: list[str] = []
    for flag, values in (
        ("--trials", ["3", "0", "1000000", "-1", "1e3", "99999999999999999999999"]),
        ("--batch", ["4", "0", "100000"]),
        ("--sampler-seed", ["1", "4294967295", "4294967296", "-1", "9" * 400]),
        ("--sampler", ["random", "grid", "tpe", "qmc", "bogus"]),
        ("--objective", ["best_val_acc", "nope"]),
        ("--study", ["s", "", "x" * 600, "a\nb", "\x1b[2J", "ü"]),
        ("--epochs", ["1", "0", "-3"]),
    ):
        if rng.random() < 0.12:
            flags += [flag, rng.choice(values)]
    return _toml(doc, rng), flags


def test_generated_search_spaces_and_flags(tmp_path, no_training):
    rng = random.Random(SEED + 4)
    exp = tmp_path / "exp.toml"
    exp.write_bytes(tomli_w.dumps(_valid_base(rng)).encode())
    tally = _Tally(f"{N_SPACES} search spaces and flags")
    for i in range(N_SPACES):
        raw, flags = _space_case(rng)
        space = tmp_path / f"space{i}.toml"
        space.write_bytes(raw)
        argv = [
            "search",
            str(exp),
            "--space",
            str(space),
            "--storage",
            "memory:",
            "--out",
            str(tmp_path / f"o{i}"),
        ]
        tally.judge("search", argv + flags, (raw[:120], flags))
    tally.check()
    assert tally.accepted > 30 and tally.refused > 300


def test_generated_storage_urls_and_study_names(tmp_path, no_training, monkeypatch):
    rng = random.Random(SEED + 5)
    folder = tmp_path / "store-folder"
    folder.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    urls = [
        f"sqlite:///{tmp_path / 'studies.sqlite3'}",
        f"sqlite:///{tmp_path / 'studies.sqlite3'}?mode=ro",
        f"sqlite:///{folder}",
        f"sqlite:///{notes}",
        "sqlite:////proc/self/optiscope.db",
        "sqlite://",
        "sqlite:///" + "x" * 5000,
        f"journal:{tmp_path / 'j.log'}",
        "journal:/dev/null",
        f"journal:{folder}",
        "journal:",
        "memory:",
        "",
        "nonsense",
        "postgresql://nobody@/db?host=/nonexistent-socket-folder",
        "mysql://nobody@localhost:1/db",
        "\x1b[2J",
    ]
    names = ["s", "", " ", "x" * 600, "a\nb", "\x1b]0;t\x07", "ü", "'; DROP TABLE studies; --", "s/../t"]
    exp = tmp_path / "exp.toml"
    exp.write_bytes(tomli_w.dumps(_valid_base(rng)).encode())
    space = tmp_path / "space.toml"
    space.write_text('[search]\ntrials = 2\n[search.params]\n"optimizer.lr" = { low = 0.001, high = 0.1 }\n')
    tally = _Tally(f"{N_STORAGES} storage URLs and study names")
    monkeypatch.chdir(tmp_path)
    for i in range(N_STORAGES):
        url, name = rng.choice(urls), rng.choice(names)
        argv = [
            "search",
            str(exp),
            "--space",
            str(space),
            "--storage",
            url,
            "--study",
            name,
            "--out",
            str(tmp_path / f"o{i}"),
        ]
        tally.judge("search", argv, (url[:80], name[:40]))
    tally.check()
    assert notes.read_text() == "mine\n" and list(folder.iterdir()) == []
    made = {p.name for p in tmp_path.iterdir()} - {
        "exp.toml",
        "space.toml",
        "notes.txt",
        "store-folder",
        "home",
    }
    made = {n for n in made if not n.startswith("o")}
    assert made <= {"studies.sqlite3", "studies.sqlite3-wal", "studies.sqlite3-shm", "j.log", "j.log.lock"}, (
        made
    )
    assert tally.accepted > 10 and tally.refused > 50


def test_generated_record_sizes_and_paths(tmp_path, no_training):
    rng = random.Random(SEED + 6)
    folder_gif = tmp_path / "taken.gif"
    folder_gif.mkdir()
    sizes = [
        "1280x720",
        "160x120",
        "3840x2160",
        "159x120",
        "3841x10",
        "0x0",
        "-1x5",
        "1280X720",
        "12 x 7",
        "9" * 5000 + "x720",
        "٣٣٣x٢٢٢",
        "1e3x720",
        "",
        "x",
        "1280x720x3",
        "321x241",
    ]
    outs = [
        str(folder_gif),
        "/proc/self/x.gif",
        str(tmp_path / "a.avi"),
        str(tmp_path / "noext"),
        str(tmp_path / "sub" / "deep" / "r.gif"),
        str(tmp_path / "r.mp4"),
        str(tmp_path / "r.gif"),
        "/dev/null.gif",
        str(tmp_path / "\x1b[2J.gif"),
        str(tmp_path / ("n" * 300 + ".gif")),
    ]
    tally = _Tally(f"{N_RECORDS} record sizes and paths")
    for _ in range(N_RECORDS):
        argv = [
            "record",
            "--preset",
            rng.choice(["blobs-sgd", "no-such-preset"]),
            "--size",
            rng.choice(sizes),
        ]
        argv += [
            "--fps",
            rng.choice(["10", "60", "0", "61", "-1"]),
            "--seconds",
            rng.choice(["6", "120", "0.5", "121", "nan", "inf"]),
        ]
        argv += ["--out", rng.choice(outs)]
        tally.judge("record", argv, argv[2:])
    tally.check()
    assert list(folder_gif.iterdir()) == []
    stray = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert stray == [], stray  # nothing written: every accepted case stopped where training starts


def _store_case(rng: random.Random, tmp_path: Path, i: int, ours: bytes) -> Path:
    import sqlite3

    kind = rng.choice(
        ["empty", "text", "random", "header", "ours", "cut", "other", "other_runs", "newer", "folder", "link"]
    )
    p = tmp_path / f"case{i}" / "store.sqlite3"
    p.parent.mkdir()
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("my notes\n" * rng.randint(1, 50))
    elif kind == "random":
        p.write_bytes(bytes(rng.randrange(256) for _ in range(rng.choice([10, 500, 5000]))))
    elif kind == "header":
        p.write_bytes(b"SQLite format 3\x00" + bytes(rng.randrange(256) for _ in range(2000)))
    elif kind == "ours":
        p.write_bytes(ours)
    elif kind == "cut":
        p.write_bytes(ours[: rng.randrange(16, len(ours))])
    elif kind in ("other", "other_runs", "newer"):
        conn = sqlite3.connect(p)
        if kind == "other":
            conn.execute(f"CREATE TABLE t{rng.randrange(9)} (a, b)")
        elif kind == "other_runs":
            cols = rng.sample(
                ["id INTEGER PRIMARY KEY", "created REAL", "label TEXT", "status TEXT", "distance REAL"], 3
            )
            conn.execute(f"CREATE TABLE runs ({', '.join(cols)})")
            if rng.random() < 0.5:
                conn.execute(f"PRAGMA application_id = {rng.randrange(1, 2**31)}")
        else:
            conn.executescript(ours_schema())
            conn.execute("PRAGMA user_version = 99")
        conn.commit()
        conn.close()
    elif kind == "folder":
        p.mkdir()
    else:
        p.symlink_to("/dev/zero")
    return p


def ours_schema() -> str:
    from optiscope.engine.store import _SCHEMA

    return _SCHEMA


def test_generated_store_files(tmp_path, no_training):
    from optiscope.engine.store import RunStore

    rng = random.Random(SEED + 7)
    made = tmp_path / "made" / "runs.sqlite3"
    RunStore(made).close()
    ours = made.read_bytes()
    tally = _Tally(f"{N_STORES} store files")
    changed = []
    for i in range(N_STORES):
        p = _store_case(rng, tmp_path, i, ours)
        before = {
            q.name: (q.read_bytes() if q.is_file() and not q.is_symlink() else None)
            for q in p.parent.iterdir()
        }
        action = rng.choice([["list"], ["show", "1"], ["export", "1", "--out", str(p.parent / "x.csv")]])
        tally.judge("runs", ["runs", "--store", str(p), *action], (p.name, action[0]))
        after = {
            q.name: (q.read_bytes() if q.is_file() and not q.is_symlink() else None)
            for q in p.parent.iterdir()
        }
        extra = set(after) - set(before) - {"store.sqlite3-wal", "store.sqlite3-shm", "x.csv"}
        if extra or {k: v for k, v in after.items() if k in before} != before:
            changed.append((i, sorted(extra)))
    tally.check()
    print(f"fuzz: store files changed, renamed or added beside: {len(changed)}")
    assert not changed, changed[:5]
    assert tally.refused > 100

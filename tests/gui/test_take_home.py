"""Taking an experiment home from the window (File menu, Runs tab).

Each file the window writes is read back by an independent consumer: the weights by
``torch.load`` into the exported script's model class (in a plain Python process that refuses
any optiscope import), a share code by the command line's parser (``optiscope run
--from-code``), a bundle by ``optiscope run --bundle ZIP --check``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from optiscope.engine.cli import build_parser, main
from optiscope.engine.cli.common import load_experiment
from optiscope.engine.config import (
    SGD,
    Adam,
    DatasetConfig,
    RunConfig,
    TrainingConfig,
    race_experiment,
)
from PySide6 import QtGui, QtWidgets


def _no_dialogs(monkeypatch):
    shown = []
    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, lambda *a, _n=name, **k: shown.append((_n, a[1:])))
    return shown


def _save_as(monkeypatch, path):
    """The next save dialogs answer ``path`` (without its suffix: the window adds it)."""
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path.with_suffix("")), "")
    )


@pytest.fixture
def race():
    """Two short runs on small blobs (trained batched by the window, as by 'optiscope run')."""
    training = TrainingConfig(epochs=3, batch_size=32, device="cpu")
    data = DatasetConfig(name="blobs", n_samples=200, standardize=True)
    runs = [
        RunConfig(dataset=data, optimizer=Adam(lr=0.01), training=training),
        RunConfig(dataset=data, optimizer=SGD(lr=0.05), training=training),
    ]
    return race_experiment(runs, name="take-home")


def _train(qtbot, w, exp):
    w.set_experiment(exp)
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    assert [r.reason for r in w.runs.results] == ["completed"] * len(exp.runs())


PROBE = r"""
import json, re, sys, types, torch


class NoOptiscope:
    def find_spec(self, name, path=None, target=None):
        if name == "optiscope" or name.startswith("optiscope."):
            raise ImportError("the probe imported " + name)


sys.meta_path.insert(0, NoOptiscope())
script, run, weights = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(script, encoding="utf-8").read()
module = types.ModuleType("exported_script")  # the script's definitions, not its main()
sys.modules[module.__name__] = module  # (its dataclasses look their module up)
ns = module.__dict__
exec(compile(text, script, "exec"), ns)
body = text[text.index(f"def run_{run}("):]
data = eval(re.search(r"data = (load_synthetic\(.*?\))  #", body).group(1), ns)  # its Data panel
model = ns[[n for n in ns["RUNS"][run].__code__.co_names if n.startswith("Net")][0]]()
model.load_state_dict(torch.load(weights, weights_only=True))
print(json.dumps(ns["evaluate"](model, torch.as_tensor(data.x_val), torch.as_tensor(data.y_val))))
"""


def _script_evaluates(script, run, weights) -> tuple[float, float]:
    """(val loss, val acc) of ``weights`` loaded into run ``run``'s model class of ``script``."""
    argv = [sys.executable, "-c", PROBE, str(script), str(run), str(weights)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loss, acc = json.loads(proc.stdout.strip().splitlines()[-1])
    return loss, acc


def test_export_script_and_save_weights_from_the_file_menu(qtbot, make_window, race, tmp_path, monkeypatch):
    """File → Export as PyTorch script writes a script of both runs; File → Save weights writes
    the chosen run's state_dict, which loads into that script's model class and gives the run's
    final validation loss and accuracy."""
    shown = _no_dialogs(monkeypatch)
    w = make_window()
    _train(qtbot, w, race)
    script = tmp_path / "take-home.py"
    _save_as(monkeypatch, script)
    w.acts["export_script"].trigger()
    assert script.exists() and not shown, (shown, w.messages[-1])
    assert "import optiscope" not in script.read_text(encoding="utf-8")
    asked = []

    def pick_second(parent, title, label, items, current, editable):
        asked.append(list(items))
        return items[1], True

    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", pick_second)
    weights = tmp_path / "sgd.pt"
    _save_as(monkeypatch, weights)
    w.acts["save_weights"].trigger()
    assert asked and len(asked[0]) == 2 and "sgd" in asked[0][1]
    assert weights.exists() and not list(tmp_path.glob("*.tmp")), w.messages[-1]
    final = [e for e in w.runs.epoch_events if e.run == 1][-1]
    loss, acc = _script_evaluates(script, 1, weights)
    assert acc == final.val_acc
    assert loss == pytest.approx(final.val_loss, rel=1e-6)
    # a place that cannot be written: said in a dialog, nothing left behind
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    assert not w.files.home.save_weights(w.runs.results[0], blocked / "w.pt")
    assert not w.files.home.export_script(race, blocked / "s.py")
    assert [d[1][0] for d in shown] == ["Cannot save weights", "Cannot export"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "sgd.pt", "take-home.py"]


def test_runs_tab_saves_weights_and_bundles(qtbot, make_window, race, tmp_path, monkeypatch, capsys):
    """The Runs tab's Save weights: enabled for a stored run trained in this window, and the file
    loads into the exported script's model class; a stored run without weights says why. Its
    Save bundle writes the selected stored runs as 'runs export --bundle' does: re-checked."""
    _no_dialogs(monkeypatch)
    w = make_window()
    _train(qtbot, w, race)
    stored = w.runs.recording.recorder.ids[0]
    w.views.setCurrentWidget(w.runs_view)  # showing the tab reads the store
    qtbot.waitUntil(lambda: any(r.id == stored for r in w.runs_view.runs), timeout=30_000)
    w.runs_view.select_ids([stored])
    assert w.runs_view.weights_button.isEnabled()
    weights = tmp_path / "adam.pt"
    _save_as(monkeypatch, weights)
    w.runs_view.weights_button.click()
    assert weights.exists(), w.messages[-1]
    script = tmp_path / "s.py"
    assert w.files.home.export_script(race, script)
    final = [e for e in w.runs.epoch_events if e.run == 0][-1]
    loss, acc = _script_evaluates(script, 0, weights)
    assert acc == final.val_acc and loss == pytest.approx(final.val_loss, rel=1e-6)
    # Save bundle: both stored runs, re-checked by the command line against the stored metrics
    ids = [w.runs.recording.recorder.ids[i] for i in (0, 1)]
    w.runs_view.select_ids(ids)
    assert w.runs_view.bundle_button.isEnabled()
    bundle = tmp_path / "stored.zip"
    _save_as(monkeypatch, bundle)
    w.runs_view.bundle_button.click()
    assert bundle.exists(), w.messages[-1]
    code = main(["run", "--bundle", str(bundle), "--check", "--out", str(tmp_path / "re"), "--no-store"])
    out = capsys.readouterr().out
    assert code == 0 and "check: reproduced" in out and out.count(": ok,") == 2, out
    # a stored run the window did not train: the button is off and the command says why
    others = [r for r in w.runs_view.runs if not w.files.home.has_weights(r.id)]
    if others:
        w.runs_view.select_ids([others[0].id])
        assert not w.runs_view.weights_button.isEnabled()
        assert not w.files.home.save_stored_weights(others[0])
        assert "keeps metrics only" in w.messages[-1]


def test_copy_experiment_and_open_from_text(qtbot, make_window, race, tmp_path, monkeypatch, capsys):
    """File → Copy experiment puts a share code on the clipboard that the command line reads
    back as the same runs; File → Open from text opens it in another window; a tampered code
    gives the command line's error in the same dialog as a bad file, and changes nothing."""
    shown = _no_dialogs(monkeypatch)
    w = make_window(wait_engine=False)
    w.set_experiment(race)
    w.acts["copy_code"].trigger()
    code = QtGui.QGuiApplication.clipboard().text()
    assert code.startswith("optiscope:1:")
    args = build_parser().parse_args(["run", "--from-code", code, "--out", str(tmp_path / "out")])
    assert load_experiment(args).runs() == w.experiment_config().runs()

    w2 = make_window(wait_engine=False)
    before = w2.experiment_config()
    data = code.split(":")[2]
    i = len(data) // 2
    tampered = code.replace(data, data[:i] + ("A" if data[i] != "A" else "B") + data[i + 1 :])
    monkeypatch.setattr(QtWidgets.QInputDialog, "getMultiLineText", lambda *a, **k: (tampered, True))
    w2.acts["open_code"].trigger()
    assert shown and shown[-1][0] == "warning" and shown[-1][1][0] == "Cannot open experiment"
    assert main(["run", "--from-code", tampered, "--out", str(tmp_path / "bad")]) == 2
    cli_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert shown[-1][1][1] in cli_error  # the command line's message, word for word
    assert w2.experiment_config() == before and not w2.document.race  # nothing lost

    monkeypatch.setattr(QtWidgets.QInputDialog, "getMultiLineText", lambda *a, **k: (f"  {code}\n", True))
    w2.acts["open_code"].trigger()
    assert w2.experiment_config().runs() == race.runs()
    assert "Opened the shared experiment 'take-home'" in w2.messages[-1]
    qtbot.waitUntil(lambda: w.engine_loaded and w2.engine_loaded, timeout=60_000)


def test_save_run_bundle_is_rechecked_by_the_command_line(
    qtbot, make_window, race, tmp_path, monkeypatch, capsys
):
    """File → Save run bundle: 'optiscope run --bundle ZIP --check' re-runs it and reproduces it;
    a stopped run is refused with the reason, and nothing is written."""
    shown = _no_dialogs(monkeypatch)
    w = make_window()
    _train(qtbot, w, race)
    bundle = tmp_path / "race.zip"
    _save_as(monkeypatch, bundle)
    w.acts["save_bundle"].trigger()
    assert bundle.exists() and not shown, (shown, w.messages[-1])
    code = main(["run", "--bundle", str(bundle), "--check", "--out", str(tmp_path / "re"), "--no-store"])
    out = capsys.readouterr().out
    assert code == 0 and "check: reproduced" in out, out
    import zipfile

    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
    assert {"train.py", "steps.csv", "weights/run-0.pt", "weights/run-1.pt", "versions.json"} <= names

    long = race.with_overrides(epochs=500)
    w.set_experiment(long)
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
        w.transport.stop()
    again = tmp_path / "stopped.zip"
    _save_as(monkeypatch, again)
    w.acts["save_bundle"].trigger()
    assert not again.exists()
    assert shown and "stopped before its end" in shown[-1][1][1]


def test_take_home_commands_are_in_the_file_menu(make_window):
    w = make_window(wait_engine=False)
    texts = [a.text().replace("&", "") for a in w.menus["File"].actions()]
    for text in (
        "Export as PyTorch script…",
        "Save weights…",
        "Copy experiment",
        "Open from text…",
        "Save run bundle…",
    ):
        assert text in texts
    assert re.sub("&", "", w.acts["save_bundle"].text()) == "Save run bundle…"

"""Experiment files, exports and settings: bad input is reported and never stops the app."""

from __future__ import annotations

import csv

from optiscope.engine.config import SGD, ExperimentConfig, RunConfig, load_toml
from PySide6 import QtWidgets


def _no_dialogs(monkeypatch):
    shown = []
    for name in ("warning", "critical", "information"):
        monkeypatch.setattr(QtWidgets.QMessageBox, name, lambda *a, _n=name, **k: shown.append((_n, a[1:])))
    return shown


def test_corrupt_toml_is_reported_and_the_window_survives(qtbot, make_window, tmp_path, monkeypatch):
    shown = _no_dialogs(monkeypatch)
    bad = tmp_path / "broken.toml"
    bad.write_text("[base.optimizer\nkind = 'adam'\n", encoding="utf-8")
    w = make_window(wait_engine=False)
    before = w.current_run_config()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    w.files.open_dialog()
    assert shown and shown[0][0] == "warning"
    assert "not valid TOML" in shown[0][1][1]
    assert any("broken.toml" in m for m in w.messages)
    assert w.current_run_config() == before and w.isVisible()
    # a file that parses but breaks the schema names the field
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[base.optimizer]\nkind = 'sgd'\nlr = -1.0\n", encoding="utf-8")
    assert not w.files.open_experiment(wrong)
    assert "optimizer" in shown[-1][1][1] and "lr" in shown[-1][1][1]
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_save_and_open_roundtrip_with_a_race(qtbot, make_window, tmp_path, monkeypatch):
    _no_dialogs(monkeypatch)
    w = make_window(wait_engine=False)
    w.optimizer_panel.set_config(SGD(lr=0.1, momentum=0.9))
    w.race.compare()
    w.optimizer_panel.set_config(SGD(lr=0.01))
    w.race.compare()
    path = tmp_path / "race.toml"
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(path.with_suffix("")), "")
    )
    assert w.files.save_as()
    assert path.exists() and not path.with_name("race.toml.tmp").exists()
    saved = load_toml(path)
    assert [(r.optimizer.lr, r.optimizer.momentum) for r in saved.runs()] == [(0.1, 0.9), (0.01, 0.0)]
    w2 = make_window(wait_engine=False)
    assert w2.files.open_experiment(path)
    assert w2.experiment_config().runs() == saved.runs()
    assert w2.windowTitle() == "race"  # the file named once; Qt adds " — Optiscope"
    qtbot.waitUntil(lambda: w.engine_loaded and w2.engine_loaded, timeout=60_000)


def test_metrics_csv_and_plot_exports(qtbot, make_window, quick_blobs, tmp_path):
    from optiscope.engine.runner import METRIC_COLUMNS

    w = make_window()
    w.set_experiment(quick_blobs)
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()
    out = tmp_path / "metrics.csv"
    assert w.files.export_metrics(out)
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert [r[2] for r in rows[1:]] == ["1", "2", "3"]
    assert all(0.0 <= float(r[5]) <= 1.0 for r in rows[1:])
    seed = str(quick_blobs.base.training.seed)  # the CLI's runner and seed columns: run 0, its seed
    assert [(r[METRIC_COLUMNS.index("runner")], r[METRIC_COLUMNS.index("seed")]) for r in rows[1:]] == [
        ("0", seed)
    ] * 3
    for name in w.plots.plot_items():
        for suffix in ("png", "svg"):
            target = tmp_path / f"{name}.{suffix}"
            assert w.files.export_plot(name, target), w.messages[-1]
            assert target.stat().st_size > 100
    # the user's umask, as a file opened the ordinary way in the same folder gets (not 0o600)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert (tmp_path / "loss.png").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert (tmp_path / "loss.svg").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert (tmp_path / "loss.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_bad_settings_are_reported_and_launch_goes_on(qtbot, make_window, tmp_path, monkeypatch):
    settings = tmp_path / "bad-settings.ini"
    settings.write_text(
        "[window]\ngeometry=not a geometry\nstate=@ByteArray(junk)\n[view]\ntheme=purple\n"
        "[files]\nlast_experiment=" + str(tmp_path / "gone.toml") + "\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("OPTISCOPE_SETTINGS", str(settings))
    shown = _no_dialogs(monkeypatch)
    w = make_window(wait_engine=False, restore_last=True)
    text = " ".join(w.messages)
    assert "view/theme" in text and "window" in text
    assert w.isVisible() and w.theme == "light"
    assert shown == []  # reported in the status bar, no dialog at start-up
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_corrupt_last_experiment_does_not_stop_launch(qtbot, make_window, tmp_path, monkeypatch):
    last = tmp_path / "last.toml"
    last.write_text("this is = not [toml", encoding="utf-8")
    from optiscope.gui.settings import AppSettings

    s = AppSettings()
    s.set_last_experiment(str(last))
    s.sync()
    shown = _no_dialogs(monkeypatch)
    w = make_window(wait_engine=False, restore_last=True)
    assert any("last.toml" in m for m in w.messages)
    assert shown == [] and w.isVisible()
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)


def test_settings_remember_the_last_experiment_and_theme(qtbot, make_window, tmp_path, monkeypatch):
    _no_dialogs(monkeypatch)
    exp = ExperimentConfig(name="remembered", base=RunConfig(optimizer=SGD(lr=0.2)))
    from optiscope.engine.config import dump_toml

    path = tmp_path / "remembered.toml"
    dump_toml(exp, path)
    w = make_window(wait_engine=False)
    w.files.open_experiment(path)
    w.set_theme("dark")
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
    w.close()
    w2 = make_window(wait_engine=False, restore_last=True)
    assert w2.theme == "dark"
    assert w2.optimizer_panel.config().lr == 0.2
    qtbot.waitUntil(lambda: w2.engine_loaded, timeout=60_000)


def test_quitting_with_an_unsaved_race_asks_first(qtbot, make_window, tmp_path, monkeypatch):
    _no_dialogs(monkeypatch)
    std = QtWidgets.QMessageBox.StandardButton
    asked: list[str] = []
    reply = {"button": std.Cancel}

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return reply["button"]

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", question)
    w = make_window(wait_engine=False)
    qtbot.waitUntil(lambda: w.engine_loaded, timeout=60_000)
    assert w.close() and not asked  # nothing to lose: no question
    w = make_window()
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.1)))
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.01)))
    assert not w.close() and w.isVisible()  # Cancel keeps the window
    assert asked and "race of 2 runs is not saved" in asked[-1]
    # Save writes the race to the experiment's file, then the window closes
    path = tmp_path / "race.toml"
    w.document.path = path
    reply["button"] = std.Save
    assert w.close()
    assert [r.optimizer.lr for r in load_toml(path).runs()] == [0.1, 0.01]


def test_a_race_just_opened_or_saved_closes_without_a_question(qtbot, make_window, tmp_path, monkeypatch):
    _no_dialogs(monkeypatch)
    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: asked.append(a[2]))
    w = make_window()
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.1)))
    w.document.add_runner(RunConfig(optimizer=SGD(lr=0.01)))
    assert w.files.save_to(tmp_path / "race.toml")
    assert w.close() and not asked
    w = make_window()
    assert w.files.open_experiment(tmp_path / "race.toml")
    assert len(w.document.race) == 2
    assert w.close() and not asked


def test_window_metrics_export_has_each_runs_runner_and_seed(qtbot, make_window):
    """With seeds, the window's metrics export says which runner and seed each run is, as metrics.csv."""
    from optiscope.engine.config import SGD, Adam, DatasetConfig, RunConfig, TrainingConfig, race_experiment

    data = DatasetConfig(name="blobs", n_samples=200)
    training = TrainingConfig(epochs=2, batch_size=32, device="cpu", seed=4)
    runners = [
        RunConfig(label="Adam", dataset=data, optimizer=Adam(lr=0.01), training=training),
        RunConfig(label="SGD", dataset=data, optimizer=SGD(lr=0.01), training=training),
    ]
    w = make_window()
    w.set_experiment(race_experiment(runners, name="r").model_copy(update={"seeds": 3}))
    with qtbot.waitSignal(w.run_finished, timeout=120_000):
        assert w.run()
    rows = list(csv.DictReader(w.files.metrics_csv().splitlines()))
    got = sorted({(int(r["run"]), r["label"], int(r["runner"]), int(r["seed"])) for r in rows})
    assert got == [(r, "Adam" if r < 3 else "SGD", r // 3, 4 + r % 3) for r in range(6)]

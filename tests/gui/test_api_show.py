"""``optiscope.show(result)`` and ``optiscope.run(..., show=True)``: the window on the API's runs.

The curves the window draws are compared with the result's DataFrames (the CLI's metrics.csv
and steps.csv columns); without a display, a clear error comes before Qt (which would abort).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import optiscope
import pytest
from optiscope.engine.config import SGD, Adam, DatasetConfig, RunConfig, TrainingConfig, race_experiment


@pytest.fixture
def race():
    data = DatasetConfig(name="blobs", n_samples=200, standardize=True)
    training = TrainingConfig(epochs=4, batch_size=32, device="cpu")
    runs = [
        RunConfig(dataset=data, optimizer=Adam(lr=0.01), training=training),
        RunConfig(dataset=data, optimizer=SGD(lr=0.05), training=training),
    ]
    return race_experiment(runs, name="shown")


def _close(qtbot, window):
    qtbot.waitUntil(lambda: window.engine_loaded, timeout=60_000)  # its loading job ends first
    window.close()
    window.deleteLater()


def _check_curves(window, result):
    """Every run's per-update loss and per-epoch validation loss and accuracy, as drawn."""
    window.flush_plots()
    shown = window.plots.shown
    for run, metrics in result.metrics.groupby("run"):
        series = shown.series(int(run))
        steps = result.steps[result.steps["run"] == run]
        np.testing.assert_allclose(series["raw"][1], steps["loss"].to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(series["val_loss"][1], metrics["val_loss"].to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(series["acc_val"][1], metrics["val_acc"].to_numpy(), rtol=1e-6)
        assert len(series["val_loss"][1]) == len(metrics) == 4


def test_show_draws_a_finished_result(qtbot, race, tmp_path, monkeypatch):
    result = optiscope.run(race, progress=False)
    window = optiscope.show(result, block=False)
    try:
        assert window.isVisible()
        _check_curves(window, result)
        assert window.runs.results == result.results  # File → Save weights works on them
        assert window.files.home.save_weights(result.results[1], tmp_path / "w.pt")
    finally:
        _close(qtbot, window)


def test_run_with_show_draws_live(qtbot, race, monkeypatch):
    from optiscope.gui.run_controller import RunController

    batches, states = [], []
    original = RunController.add_external

    def counted(self, events):
        batches.append(len(events))
        original(self, events)
        # while the API trains, the window counts the runs as live but cannot pause or stop them
        window = self.parent()
        states.append((self.running, window.acts["stop"].isEnabled(), window.acts["pause"].isEnabled()))
        if len(states) == 1:
            states.append(window.run())  # Run does not start another run over the API's

    monkeypatch.setattr(RunController, "add_external", counted)
    result = optiscope.run(race.with_overrides(epochs=4), progress=False, show=True)
    window = result.window
    try:
        assert len(batches) >= 2, batches  # drawn while training, not only at the end
        assert sum(batches) == len(result.events)
        assert states[1] is False and "A run is in progress" in " ".join(window.messages)
        shown = [s for s in states if isinstance(s, tuple)]
        assert shown and all(running and not stop and not pause for running, stop, pause in shown)
        assert not window.running  # finished: Run trains the experiment again
        _check_curves(window, result)
    finally:
        _close(qtbot, window)


NO_DISPLAY = """
import optiscope
from optiscope.engine.config import DatasetConfig, RunConfig, TrainingConfig, ExperimentConfig
exp = ExperimentConfig(base=RunConfig(dataset=DatasetConfig(name="blobs", n_samples=60),
                                      training=TrainingConfig(epochs=1, device="cpu")))
for call in (lambda: optiscope.run(exp, progress=False, show=True),
             lambda: optiscope.show(optiscope.run(exp, progress=False))):
    try:
        call()
    except optiscope.DisplayError as exc:
        print("DisplayError:", exc)
"""


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="these always have a display")
@pytest.mark.parametrize("platform", [None, "xcb"])
def test_no_display_is_a_clear_error_not_an_abort(platform):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if platform:
        env["QT_QPA_PLATFORM"] = platform  # Qt itself would abort: "could not connect to display"
    proc = subprocess.run(
        [sys.executable, "-c", NO_DISPLAY], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("DisplayError:")]
    assert len(lines) == 2, proc.stdout
    assert all("needs a display" in line and "DISPLAY" in line for line in lines)
    assert "Traceback" not in proc.stderr

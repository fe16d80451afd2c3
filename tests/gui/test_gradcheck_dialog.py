"""Tools > Gradient check (issue 9): the table shows the engine's check of the window's network."""

from __future__ import annotations

import pytest
from optiscope.engine.gradcheck import gradient_check
from optiscope.engine.kernels import BatchedNet
from optiscope.gui.gradcheck_dialog import COLUMNS, JOB_KEY


def table_rows(dialog) -> list[dict[str, str]]:
    t = dialog.table
    return [{COLUMNS[c]: t.item(r, c).text() for c in range(t.columnCount())} for r in range(t.rowCount())]


def run_check(qtbot, window):
    window.acts["gradcheck"].trigger()
    dialog = window.tools.get("gradcheck")
    qtbot.waitUntil(lambda: not window.jobs.busy(JOB_KEY), timeout=60_000)
    qtbot.waitUntil(lambda: dialog.check_button.isEnabled(), timeout=5000)
    return dialog


def test_the_table_shows_each_layers_errors_and_verdict(qtbot, make_window, quick_blobs) -> None:
    w = make_window()
    w.set_experiment(quick_blobs)
    tools = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Tools")
    assert w.acts["gradcheck"] in tools.actions()
    dialog = run_check(qtbot, w)
    assert "dropout off and batch norm in evaluation mode" in dialog.notes.text()
    want = gradient_check(w.current_run_config())  # the engine's own numbers, computed again here
    rows = table_rows(dialog)
    assert [(r["engine"], r["layer"]) for r in rows] == [(c.engine, c.layer) for c in want.layers]
    assert {r["engine"] for r in rows} == {"alone (torch autograd)", "batched (hand-written backward)"}
    for r, c in zip(rows, want.layers, strict=True):
        assert float(r["max rel. error"]) == pytest.approx(c.max_error, rel=0.01)
        assert float(r["mean rel. error"]) == pytest.approx(c.mean_error, rel=0.01)
        assert r["verdict"] == c.verdict and r["checked"] == str(c.checked)
    assert dialog.passed is True and dialog.verdict.text().startswith("PASS")
    dialog.close()


def test_a_corrupted_backward_is_named_in_the_verdict(qtbot, make_window, quick_blobs, monkeypatch) -> None:
    original = BatchedNet.train_step

    def broken(self, *args, **kwargs):  # the output layer's weight gradient 10 % too large
        out = original(self, *args, **kwargs)
        self.grad_views[self.ops[-1].weight].mul_(1.1)
        return out

    monkeypatch.setattr(BatchedNet, "train_step", broken)
    w = make_window()
    w.set_experiment(quick_blobs)
    dialog = run_check(qtbot, w)
    wrong = [(r["engine"], r["layer"]) for r in table_rows(dialog) if r["verdict"] == "WRONG"]
    assert wrong == [("batched (hand-written backward)", "output (50\u21923)")]
    assert dialog.passed is False
    assert (
        dialog.verdict.text()
        == "FAIL: a wrong gradient in output (50\u21923) (batched (hand-written backward), run 0)."
    )
    dialog.close()

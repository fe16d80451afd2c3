"""The Runs tab groups a runner's stored seeds into one row (mean ± scipy's 95 % t interval of
their final validation accuracy), its seeds' runs under it to pick one."""

from __future__ import annotations

import numpy as np
import scipy.stats
from optiscope.engine.cli import main
from optiscope.engine.store import RunStore
from optiscope.gui.runs_view import MEMBERS_ROLE, RunsView, read_store
from optiscope.gui.worker import JobRunner
from PySide6.QtCore import Qt

EXPERIMENT = """
schema_version = 1
name = "two"
[base.dataset]
name = "blobs"
n_samples = 200
[base.training]
epochs = 2
device = "cpu"
[[variations]]
label = "sgd"
optimizer = { kind = "sgd", lr = 0.05 }
[[variations]]
label = "adam"
optimizer = { kind = "adam", lr = 0.01 }
"""


def test_a_runners_seeds_are_one_row_with_their_mean_and_interval(qtbot, tmp_path, monkeypatch, capsys):
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    assert (
        main(["run", str(cfg), "--seeds", "3", "--seed", "0", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    )
    assert main(["run", str(cfg), "--seed", "7", "--out", str(tmp_path / "p"), "--quiet"]) == 0  # 1 seed more
    capsys.readouterr()
    store = RunStore()
    stored = {r.id: r for r in (store.load_run(s.id) for s in store.list_runs())}
    assert len(stored) == 8
    jobs = JobRunner()
    view = RunsView(jobs)
    qtbot.addWidget(view)
    view._fill(read_store(store.path))
    tops = [view.table.topLevelItem(i) for i in range(view.table.topLevelItemCount())]
    # 2 runners of 4 seeds (0, 1, 2 and the later 7): two rows, not eight
    assert sorted(t.text(0) for t in tops) == ["adam (4 seeds)", "sgd (4 seeds)"]
    for top in tops:
        members = top.data(0, MEMBERS_ROLE)
        label = top.text(0).split(" ")[0]
        assert {stored[i].summary.label for i in members} == {label}
        acc = np.array([stored[i].summary.val_acc for i in members])
        low, high = scipy.stats.t.interval(0.95, len(acc) - 1, loc=acc.mean(), scale=scipy.stats.sem(acc))
        assert top.text(4) == f"{acc.mean():.3f} ± {(high - low) / 2:.3f}"
        seeds = [top.child(j).text(0) for j in range(top.childCount())]
        assert seeds == ["seed 0", "seed 1", "seed 2", "seed 7"]
        assert [top.child(j).data(0, Qt.ItemDataRole.UserRole) for j in range(4)] == members
    # a runner's row selects its seeds; one seed's row that run alone
    top = tops[0]
    top.setSelected(True)
    assert [r.id for r in view.selected_runs()] == top.data(0, MEMBERS_ROLE)
    assert view.load_button.isEnabled()
    with qtbot.waitSignal(view.settings_requested) as got:
        view.load_button.click()
    assert got.args[0].seed == 0  # the runner's first seed
    one = top.data(0, MEMBERS_ROLE)[2]
    view.select_ids([one])
    assert [r.id for r in view.selected_runs()] == [one] and top.isExpanded()
    # the same race stored again: its seeds are a runner row of their own
    assert (
        main(["run", str(cfg), "--seeds", "3", "--seed", "0", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    )
    view._fill(read_store(store.path))
    texts = sorted(view.table.topLevelItem(i).text(0) for i in range(view.table.topLevelItemCount()))
    assert texts == ["adam (3 seeds)", "adam (4 seeds)", "sgd (3 seeds)", "sgd (4 seeds)"]
    store.close()


def test_runs_of_their_own_stay_plain_rows(qtbot, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPTISCOPE_HOME", str(tmp_path / "home"))
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXPERIMENT)
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    capsys.readouterr()
    view = RunsView(JobRunner())
    qtbot.addWidget(view)
    view._fill(read_store(RunStore().path))
    assert sorted(view.table.topLevelItem(i).text(0) for i in range(2)) == ["adam", "sgd"]
    assert not view.table.rootIsDecorated()

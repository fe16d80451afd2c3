"""Past runs of the run store drawn over the live plots, and their settings put back in the panels.

:class:`PastRuns` answers the Runs tab (:class:`~.runs_view.RunsView`): *Overlay* draws stored
runs' per-epoch curves on the live plots (named ``past: <label>``; they stay across new runs
until cleared), *Load settings* shows a stored run's settings in the panels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore

from .colors import PAST_RUN_ID_BASE  # plot ids of past runs: never those of live runs (0, 1, ...)

__all__ = ["PastRuns", "PAST_RUN_ID_BASE"]


def stored_run_events(stored: Any, rid: int) -> list[Any]:
    """The events that draw ``stored`` (a store row with its per-epoch metrics) as run ``rid``:
    one point per epoch on the step plots (the store keeps epochs, not updates)."""
    from optiscope.engine import events as ev

    s, metrics = stored.summary, stored.metrics
    steps = int(metrics[-1]["step"]) if metrics[-1]["step"] == metrics[-1]["step"] else len(metrics)
    spe = max(1, steps // max(len(metrics), 1))
    events: list[Any] = [
        ev.RunStarted(
            rid,
            f"past: {s.label or f'run {s.id}'}",
            stored.device or "?",
            int(stored.n_params or 0),
            spe,
            steps,
            int(s.epochs_planned or len(metrics)),
            0,
            stored.config,
        )
    ]
    for m in metrics:
        step = int(m["step"]) if m["step"] == m["step"] else int(m["epoch"]) * spe
        events.append(ev.Steps.of(rid, step, int(m["epoch"]), m["lr"], m["train_loss"]))
        events.append(
            ev.EpochEnd(
                rid,
                int(m["epoch"]),
                step,
                m["lr"],
                m["train_loss"],
                m["train_acc"],
                m["val_loss"],
                m["val_acc"],
                m["seconds"],
            )
        )
    events.append(ev.Finished(rid, "completed", len(metrics), steps, float(s.seconds or 0.0)))
    return events


class PastRuns(QtCore.QObject):
    """Stored runs over ``window``'s plots (``plots``, ``views``, ``experiment``, ``report``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.overlays: dict[int, list[Any]] = {}  # plot run id -> the events drawn

    def overlay(self, stored_runs: Sequence[Any]) -> None:
        """Draw stored runs' per-epoch curves over the live plots (named 'past: <label>');
        they stay across new runs until :meth:`clear`."""
        w = self.window
        if w.plots is None:
            w.report("The plots are not ready yet.", error=True)
            return
        for stored in stored_runs:
            rid = PAST_RUN_ID_BASE + stored.id
            if rid in self.overlays or not stored.metrics:
                continue
            self.overlays[rid] = stored_run_events(stored, rid)
            w.plots.add_events(self.overlays[rid])
        w.show_plots()
        w.report(f"Overlaid {len(stored_runs)} past run{'s' if len(stored_runs) != 1 else ''} on the plots.")

    def redraw(self) -> None:
        """Draw the overlays again (the plots were cleared for a new run)."""
        for events in self.overlays.values():
            self.window.plots.add_events(events)

    def clear(self) -> None:
        """Remove every past run from the plots (the live runs stay)."""
        if self.window.plots is not None:
            for rid in self.overlays:
                self.window.plots.remove_run(rid)
        self.overlays.clear()

    def load_settings(self, stored: Any) -> None:
        """Show a stored run's settings in the panels (a race, if any, is left as it is)."""
        w = self.window
        try:
            run = stored.run_config()
            w.experiment.check_takes(run)
        except Exception as exc:  # noqa: BLE001 - a run stored by another version
            w.report(f"The settings of stored run {stored.id} cannot be loaded: {exc}", error=True)
            return
        w.experiment.show_run(run)
        w.document.selected = None
        note = ""
        if w.document.race:
            note = f" The race ({len(w.document.race)} runs) is unchanged: Clear race to run them alone."
        w.report(f"The panels show stored run {stored.id}, '{stored.summary.label}'.{note}")
        w.refresh()

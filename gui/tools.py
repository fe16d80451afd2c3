"""Tool dialogs as parts: a narrow host, one dialog base and one registry table.

A *tool* is a dialog the Tools menu opens on the window's experiment (the LR range test, the
hyperparameter search, the gradient check, the tuning recipe). Each is one module holding a
:class:`ToolDialog` subclass, and one row of :data:`TOOLS`; the window builds its Tools menu
and its actions from the table and keeps the open dialogs in a :class:`ToolRegistry` (after
napari's dock-widget registry), so adding a tool touches no window code
(``docs/extending.md``, "Adding a tool").

A tool never sees the window: it gets a :class:`ToolHost`, the few things a tool may use (the
experiment document, the job runner, the live run and its store, "show this run in the
panels", the status bar). This module imports no window, no pyqtgraph and no torch: a tool's
own module is imported the first time it is opened.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

__all__ = ["TOOLS", "ToolDialog", "ToolHost", "ToolRegistry", "ToolSpec", "register_tool"]


@dataclass(frozen=True)
class ToolHost:
    """What a tool dialog may use of the window, and nothing more.

    Attributes
    ----------
    parent
        The widget the dialog is a child of (the window).
    document
        The open experiment (:class:`~.document.ExperimentDocument`: its name, its race).
    jobs
        The window's :class:`~.worker.JobRunner`: a tool's background work runs there.
    runs
        The live run (:class:`~.run_controller.RunController`): its results (``epoch_events``,
        ``label``), its ``finished`` signal and its run store (``record``, ``store_path``,
        ``recording``).
    run_config, experiment_config
        The panels' run and the window's experiment, built anew (``PanelError`` if invalid).
    show_run
        Show a run's settings in the panels (what "apply" and "load this trial" do).
    report
        A status-bar line: ``report(text, error=False)``.
    start_run
        What Run does (True when a run started).
    export_plot, plot_names
        Write a live plot (``export_plot(name, path)``), and the plots' names.
    """

    parent: QtWidgets.QWidget
    document: Any
    jobs: Any
    runs: Any
    run_config: Callable[[], Any]
    experiment_config: Callable[[], Any]
    show_run: Callable[[Any], None]
    report: Callable[..., None]
    start_run: Callable[[], bool]
    export_plot: Callable[[str, Path], bool]
    plot_names: Callable[[], list[str]]


class ToolDialog(QtWidgets.QDialog):
    """The skeleton every tool shares: its host, its background jobs, stop and cancel on close.

    A subclass sets :attr:`title`, :attr:`object_name`, the keys of its jobs
    (:attr:`job_keys`; submit them with :meth:`submit`) and, when opening it should start its
    work at once, :attr:`start_on_open` and :meth:`start`. While a job runs, the buttons named
    in :attr:`start_buttons` are disabled and those in :attr:`stop_buttons` enabled; a job
    that fails shows :attr:`failure` (``{error}``: the error, ``{first_line}``: its first
    line) in the label named :attr:`status_label`. Closing the dialog cancels its jobs (their
    results are dropped), or, with :attr:`finish_on_close`, asks them to stop and lets them
    report what they finished.
    """

    title = ""
    object_name = ""
    job_keys: tuple[str, ...] = ()
    start_on_open = False
    finish_on_close = False
    initial_size = (800, 560)
    start_buttons: tuple[str, ...] = ()
    stop_buttons: tuple[str, ...] = ()
    status_label = ""
    failure = "{error}"

    def __init__(self, host: ToolHost) -> None:
        super().__init__(host.parent)
        self.host = host
        self.setWindowTitle(self.title)
        self.setObjectName(self.object_name)
        self.resize(*self.initial_size)
        self.text_points: float | None = None  # the projector's text size while presenting

    def set_text_size(self, points: float | None) -> None:
        """Set the dialog's text at least ``points`` pt (presentation mode's text size), or
        back to its normal size (None). Each widget in it keeps its own font otherwise (some
        widget classes get their own size from the platform, so none is left to inherit it);
        a tool with plots or fixed row heights extends this to size them too."""
        self.text_points = points
        for widget in (self, *self.findChildren(QtWidgets.QWidget)):
            normal = widget.property("normal_font")
            if not isinstance(normal, QtGui.QFont):
                normal = QtGui.QFont(widget.font())
                widget.setProperty("normal_font", normal)
            f = QtGui.QFont(normal)
            if points is not None:
                f.setPointSizeF(max(f.pointSizeF(), points))
            widget.setFont(f)

    # ------------------------------------------------------------------ jobs
    def submit(self, key: str, fn: Callable[[Any], Any], **callbacks: Any) -> Any:
        """Run ``fn(context)`` as this tool's job ``key`` (one of :attr:`job_keys`), with the
        job runner's callbacks (``on_events``, ``on_done``, ``on_finished``)."""
        if key not in self.job_keys:
            raise ValueError(f"{type(self).__name__}: job {key!r} is not one of its job_keys {self.job_keys}")
        on_finished = callbacks.pop("on_finished", None)

        def finished(job: Any) -> None:
            self._show_running(False)
            if job.error and self.status_label:
                error = str(job.error)
                getattr(self, self.status_label).setText(
                    self.failure.format(error=error, first_line=error.splitlines()[0])
                )
            if on_finished is not None:
                on_finished(job)

        self._show_running(True)
        return self.host.jobs.submit(key, fn, on_finished=finished, **callbacks)

    def _show_running(self, running: bool) -> None:
        for name in self.start_buttons:
            getattr(self, name).setEnabled(not running)
        for name in self.stop_buttons:
            getattr(self, name).setEnabled(running)

    def busy(self) -> bool:
        """True while one of this tool's jobs is running (or waiting to start)."""
        return any(self.host.jobs.busy(key) for key in self.job_keys)

    def stop(self) -> None:
        """Ask this tool's jobs to stop at their next check; each still reports what it did."""
        for key in self.job_keys:
            job = self.host.jobs.current(key)
            if job is not None:
                job.context.cancel_event.set()

    def cancel(self) -> None:
        """Cancel this tool's jobs: they stop and their results are dropped."""
        for key in self.job_keys:
            self.host.jobs.cancel(key)

    def start(self) -> bool:
        """Start the tool's work (False if it cannot, with the reason shown)."""
        return False

    # ------------------------------------------------------------------ showing
    def present(self) -> None:
        """Show the dialog in front; start its work if it starts on opening and is idle."""
        self.show()
        self.raise_()
        if self.start_on_open and not self.busy():
            self.start()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        self.stop() if self.finish_on_close else self.cancel()
        super().closeEvent(event)


@dataclass(frozen=True)
class ToolSpec:
    """One row of the tool table: a Tools-menu entry and the dialog it opens.

    ``dialog`` is a :class:`ToolDialog` subclass or ``"module:Class"``, imported the first
    time the tool opens (so the window starts without pyqtgraph or torch).
    """

    name: str
    text: str
    dialog: type[ToolDialog] | str
    tip: str = ""
    shortcuts: tuple[str, ...] = ()

    def dialog_class(self) -> type[ToolDialog]:
        if not isinstance(self.dialog, str):
            return self.dialog
        module, _, cls = self.dialog.partition(":")
        return getattr(importlib.import_module(module), cls)


#: the Tools menu, in order: one row per tool
TOOLS: list[ToolSpec] = [
    ToolSpec(
        "find_lr",
        "Find &learning rate…",
        "optiscope.gui.lrfind_dialog:LRFindDialog",
        "LR range test on the current settings: loss against a rising rate, with suggestions to apply",
        ("Ctrl+L",),
    ),
    ToolSpec(
        "search",
        "&Hyperparameter search…",
        "optiscope.gui.search_view:SearchDialog",
        "an Optuna search over the panels' settings, trials trained batched, with live views",
        ("Ctrl+Shift+H",),
    ),
    ToolSpec(
        "gradcheck",
        "&Gradient check…",
        "optiscope.gui.gradcheck_dialog:GradCheckDialog",
        "compare every layer's gradient (alone and batched) with finite differences in float64",
    ),
    ToolSpec(
        "recipe",
        "Tuning &recipe…",
        "optiscope.gui.recipe_panel:RecipePanel",
        "walk the current settings through the six-step tuning recipe, each step with its check",
    ),
]


def register_tool(spec: ToolSpec) -> Callable[[], None]:
    """Add a tool to :data:`TOOLS` (windows built afterwards list it); returns its removal."""
    if any(t.name == spec.name for t in TOOLS):
        raise ValueError(f"a tool named {spec.name!r} is already registered")
    TOOLS.append(spec)
    return lambda: TOOLS.remove(spec) if spec in TOOLS else None


class ToolRegistry(QtCore.QObject):
    """The window's tools: one dialog per tool, created on first opening with ``host``."""

    def __init__(self, host: ToolHost, specs: list[ToolSpec] | None = None) -> None:
        super().__init__(host.parent)
        self.host = host
        self.specs = {s.name: s for s in (TOOLS if specs is None else specs)}
        self.dialogs: dict[str, ToolDialog] = {}
        self.text_points: float | None = None

    def open(self, name: str) -> ToolDialog:
        """Show tool ``name`` (created the first time) and start it if it starts on opening."""
        dialog = self.dialogs.get(name)
        if dialog is None:
            dialog = self.dialogs[name] = self.specs[name].dialog_class()(self.host)
            if self.text_points is not None:
                dialog.set_text_size(self.text_points)
        dialog.present()
        return dialog

    def set_text_size(self, points: float | None) -> None:
        """Every tool's text at least ``points`` pt (presentation mode), or normal (None):
        the open dialogs now, the others when they open."""
        self.text_points = points
        for dialog in self.dialogs.values():
            dialog.set_text_size(points)

    def get(self, name: str) -> ToolDialog | None:
        """Tool ``name``'s dialog if it has been opened."""
        return self.dialogs.get(name)

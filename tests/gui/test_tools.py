"""A tool is a part: one ToolDialog subclass and one row of the tool table (gui/tools.py).

The window builds its Tools menu from the table and hands each dialog a narrow ToolHost,
never itself; the shared skeleton cancels a tool's jobs when its dialog closes.
"""

from __future__ import annotations

import threading

from PySide6 import QtWidgets


def test_a_registered_toy_tool_is_in_the_tools_menu_opens_with_the_host_and_cancels_on_close(
    qtbot, make_window
):
    from optiscope.engine.config import SGD
    from optiscope.gui import tools

    started = threading.Event()

    class EchoTool(tools.ToolDialog):
        """The whole tool: a job that waits until it is cancelled."""

        title = "Echo"
        object_name = "echo"
        job_keys = ("echo",)
        start_on_open = True

        def start(self) -> bool:
            def job(context):
                started.set()
                context.cancel_event.wait(60)
                return context.cancelled

            self.submit("echo", job)
            return True

    remove = tools.register_tool(tools.ToolSpec("echo", "&Echo…", EchoTool, "say it back", ("Ctrl+Alt+E",)))
    try:
        w = make_window()
    finally:
        remove()
    entries = {a.text(): a for a in w.menus["Tools"].actions()}
    assert list(entries)[-1] == "&Echo…"  # after the built-in tools, in table order
    assert ("Ctrl+Alt+E", "Echo…") in w.acts.shortcut_rows()

    entries["&Echo…"].trigger()
    dialog = w.tools.get("echo")
    assert isinstance(dialog, EchoTool) and dialog.isVisible() and dialog.parent() is w
    assert isinstance(dialog.host, tools.ToolHost) and not isinstance(dialog.host, QtWidgets.QMainWindow)
    qtbot.waitUntil(started.is_set, timeout=30_000)
    job = w.jobs.current("echo")
    assert job is not None and dialog.busy()

    # the host is enough to act on the window: show a run in the panels, read the document
    run = dialog.host.run_config().model_copy(update={"optimizer": SGD(lr=0.123)})
    dialog.host.show_run(run)
    assert w.current_run_config().optimizer.lr == 0.123
    assert dialog.host.document is w.document

    dialog.close()  # the skeleton cancels the tool's job
    assert job.cancelled and not w.jobs.busy("echo")
    qtbot.waitUntil(lambda: not job.running, timeout=30_000)

    entries["&Echo…"].trigger()  # one dialog per tool: opened again, the same one, started again
    assert w.tools.get("echo") is dialog
    qtbot.waitUntil(lambda: w.jobs.busy("echo"), timeout=10_000)
    dialog.close()
    assert not w.jobs.busy("echo")


def test_a_tool_name_is_registered_once():
    import pytest
    from optiscope.gui import tools

    with pytest.raises(ValueError, match="already registered"):
        tools.register_tool(tools.ToolSpec("find_lr", "again", tools.ToolDialog))


def test_the_builtin_tools_are_rows_of_the_table_and_their_dialogs_take_a_host():
    import inspect

    from optiscope.gui import tools

    names = [t.name for t in tools.TOOLS]
    assert names[:4] == ["find_lr", "search", "gradcheck", "recipe"]
    for spec in tools.TOOLS:
        cls = spec.dialog_class()
        assert issubclass(cls, tools.ToolDialog), spec.name
        assert list(inspect.signature(cls.__init__).parameters)[1:] == ["host"], spec.name
        assert cls.job_keys, f"{spec.name}: a tool's jobs are named so closing it can cancel them"


def test_the_base_disables_start_while_a_job_runs_and_shows_a_failure(qtbot):
    from optiscope.gui import tools
    from optiscope.gui.worker import JobRunner

    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    jobs = JobRunner(parent, name="tool-test")
    gate = threading.Event()

    class Failing(tools.ToolDialog):
        job_keys = ("fail",)
        start_buttons, stop_buttons = ("go",), ("halt",)
        status_label, failure = "status", "It failed: {first_line}"

        def __init__(self, host):
            super().__init__(host)
            self.go, self.halt, self.status = (
                QtWidgets.QPushButton(),
                QtWidgets.QPushButton(),
                QtWidgets.QLabel(),
            )

        def start(self):
            def job(_context):
                gate.wait(30)
                raise ValueError("no data\nsecond line")

            self.submit("fail", job)
            return True

    host = tools.ToolHost(parent, None, jobs, None, *(lambda *a: None,) * 7)
    dialog = Failing(host)
    assert dialog.start()
    assert not dialog.go.isEnabled() and dialog.halt.isEnabled() and dialog.busy()
    gate.set()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert dialog.go.isEnabled() and not dialog.halt.isEnabled()
    assert dialog.status.text() == "It failed: no data"
    import pytest

    with pytest.raises(ValueError, match="not one of its job_keys"):
        dialog.submit("other", lambda _c: None)
    assert jobs.shutdown()

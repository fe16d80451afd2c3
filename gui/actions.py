"""The window's commands as one table: menus, toolbar and the shortcut list come from it.

Each :class:`ActionSpec` names a command once: its text, the callable it triggers (a
method of one of the window's rooms: ``"transport.stop"``, ``"files.save"``), its
shortcuts, tip and icon. :class:`ActionTable` turns the specs into ``QAction`` objects and
builds the menu bar (:data:`MENUS`), the run toolbar (:data:`TOOLBAR`) and the F1 list
(:meth:`ActionTable.shortcut_rows`) from them, so a command added to the table shows up
everywhere it belongs. Entries starting with ``@`` are places the window fills itself
(submenus built on demand, the speed slider); ``@tools`` lists the tool table's rows
(:data:`~.tools.TOOLS`), each an action that opens its dialog.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Slot

__all__ = ["ACTIONS", "MENUS", "TOOLBAR", "ActionSpec", "ActionTable", "tinted_icon"]

# the pixel sizes an icon is drawn at in menus, the toolbar and presentation mode
ICON_SIZES = (16, 20, 24, 32, 48)

Key = str | QtGui.QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    """One command of the window.

    Parameters
    ----------
    name
        Its key in the table (the window's ``act_<name>``).
    text
        Menu text (``&`` marks the mnemonic).
    method
        What it calls when triggered, with ``args``: ``"room.method"`` (a room of the
        window: ``transport``, ``race``, ``files``, ``tools``, ``classroom`` ...) or a
        method of the window itself.
    """

    name: str
    text: str
    method: str
    args: tuple[Any, ...] = ()
    shortcuts: tuple[Key, ...] = ()
    tip: str = ""
    icon: str | None = None  # a QStyle.StandardPixmap member name
    checkable: bool = False
    group: str | None = None  # checkable actions of one group exclude each other


_Std = QtGui.QKeySequence.StandardKey
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "run",
        "Run",
        "run",
        (),
        ("F5", "Ctrl+R"),
        "train what the button names: the race if one is set up, else the current settings",
        "SP_MediaPlay",
    ),
    ActionSpec(
        "pause",
        "Pause",
        "transport.toggle_pause",
        (),
        ("F6", "Ctrl+P"),
        "pause or resume the run",
        "SP_MediaPause",
    ),
    ActionSpec(
        "step",
        "Step",
        "transport.step_once",
        (),
        ("F10",),
        "one optimizer update, then pause",
        "SP_MediaSeekForward",
    ),
    ActionSpec(
        "step_epoch",
        "Epoch",
        "transport.step_epoch",
        (),
        ("Shift+F10",),
        "run to the end of this epoch, then pause",
        "SP_MediaSkipForward",
    ),
    ActionSpec("stop", "Stop", "transport.stop", (), ("Esc", "Shift+F5"), "stop the run", "SP_MediaStop"),
    ActionSpec(
        "reset",
        "Reset",
        "transport.reset",
        (),
        ("Ctrl+Shift+R",),
        "stop and clear the plots, keep the settings",
        "SP_BrowserReload",
    ),
    ActionSpec(
        "compare",
        "Compare",
        "race.compare",
        (),
        ("Ctrl+K",),
        "add the current settings as another runner of the race",
        "SP_FileDialogNewFolder",
    ),
    ActionSpec(
        "clear_race",
        "Clear race",
        "race.clear_race",
        (),
        ("Ctrl+Shift+K",),
        "forget the race: Run then trains the panels' settings alone",
        "SP_DialogResetButton",
    ),
    ActionSpec(
        "lr_up",
        "LR × 2",
        "transport.scale_lr",
        (2.0,),
        ("Ctrl+Up",),
        "double the learning rate: while running, the live run's whole schedule from the next "
        "update (the panel keeps the next Run's rate); else the Optimizer panel's",
    ),
    ActionSpec(
        "lr_down",
        "LR ÷ 2",
        "transport.scale_lr",
        (0.5,),
        ("Ctrl+Down",),
        "halve the learning rate: while running, the live run's whole schedule from the next "
        "update (the panel keeps the next Run's rate); else the Optimizer panel's",
    ),
    ActionSpec("faster", "Faster", "transport.change_speed", (-1,), ("Ctrl+]",), "less slow motion"),
    ActionSpec(
        "slower",
        "Slower",
        "transport.change_speed",
        (1,),
        ("Ctrl+[",),
        "slow motion: wait longer before each update",
    ),
    ActionSpec(
        "open", "&Open experiment…", "files.open_dialog", (), (_Std.Open,), "open an experiment TOML file"
    ),
    ActionSpec("save", "&Save experiment", "files.save", (), (_Std.Save,), "save the experiment as TOML"),
    ActionSpec(
        "save_as",
        "Save experiment &as…",
        "files.save_as",
        (),
        ("Ctrl+Shift+S",),
        "save the experiment under another name",
    ),
    ActionSpec(
        "export_csv",
        "Export metrics as &CSV…",
        "files.export_metrics_dialog",
        (),
        ("Ctrl+E",),
        "every epoch's metrics of every run, as the CLI's metrics.csv",
    ),
    ActionSpec(
        "open_code",
        "Open from &text…",
        "files.home.open_code_dialog",
        (),
        (),
        "paste a share code (optiscope:…) from File → Copy experiment or 'optiscope share'",
    ),
    ActionSpec(
        "copy_code",
        "Cop&y experiment",
        "files.home.copy_code",
        (),
        (),
        "put the experiment on the clipboard as a one-line share code, for a chat or a slide",
    ),
    ActionSpec(
        "export_script",
        "Export as PyTorch scr&ipt…",
        "files.home.export_script_dialog",
        (),
        (),
        "a standalone Python script (torch, numpy, scikit-learn only) that trains these runs "
        "and prints the same per-epoch metrics",
    ),
    ActionSpec(
        "save_weights",
        "Save &weights…",
        "files.home.save_weights_dialog",
        (),
        (),
        "a run's trained weights as a PyTorch state_dict (.pt) that the exported script's model loads",
    ),
    ActionSpec(
        "save_bundle",
        "Save run &bundle…",
        "files.home.save_bundle_dialog",
        (),
        (),
        "the last run's config, metrics, steps, weights, script and versions in one zip that "
        "'optiscope run --bundle ZIP --check' re-runs and compares",
    ),
    ActionSpec(
        "overlay",
        "Overlay runs",
        "set_plot_mode",
        ("overlay",),
        ("Ctrl+1",),
        "draw every run on the same axes",
        checkable=True,
        group="plot_mode",
    ),
    ActionSpec(
        "grid",
        "Small multiples",
        "set_plot_mode",
        ("grid",),
        ("Ctrl+2",),
        "one small plot per run, shared axes",
        checkable=True,
        group="plot_mode",
    ),
    ActionSpec(
        "defaults",
        "Reset settings to defaults",
        "reset_settings",
        (),
        (),
        "the reading list's blobs + SGD set-up",
    ),
    ActionSpec(
        "open_lesson",
        "Open &lesson…",
        "classroom.open_lesson_dialog",
        (),
        ("Ctrl+Shift+O",),
        "open a lesson file: its text, runs, observations and pace",
    ),
    ActionSpec(
        "export_results",
        "Export &results as CSV…",
        "classroom.export_results_dialog",
        (),
        (),
        "the results table under the plots, one row per run",
    ),
    ActionSpec(
        "export_sheet",
        "Export lesson &sheet (PDF)…",
        "classroom.export_sheet_dialog",
        (),
        (),
        "a PDF handout: the lesson text, the plots as they are now, the results table and the settings",
    ),
    ActionSpec(
        "record",
        "Re&cord plots…",
        "classroom.toggle_recording",
        (),
        ("Ctrl+Alt+R",),
        "record the plots as they draw into an animated GIF (or MP4); again to stop and write it",
        checkable=True,
    ),
    ActionSpec(
        "replay",
        "Replay",
        "classroom.replay",
        (),
        ("Ctrl+Shift+F5",),
        "run the lesson again from the start, at the same pace",
        "SP_MediaSkipBackward",
    ),
    ActionSpec(
        "presentation",
        "&Presentation",
        "classroom.toggle_presentation",
        (),
        ("F11",),
        "full screen, large text, high contrast, colour-blind-safe colours (click a legend entry to spotlight a run)",
        checkable=True,
    ),
    ActionSpec("quit", "&Quit", "close", (), (_Std.Quit,), "close Optiscope"),
    ActionSpec(
        "shortcuts", "Keyboard shortcuts", "acts.show_shortcuts", (), ("F1",), "list the keyboard shortcuts"
    ),
    ActionSpec(
        "about", "&About Optiscope", "show_about", (), (), "version, licences and where things are kept"
    ),
)

# menu title -> entries: an action name, "-" (a separator) or "@place" (filled by the window)
MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "&File",
        (
            "open",
            "open_code",
            "open_lesson",
            "save",
            "save_as",
            "copy_code",
            "-",
            "export_script",
            "save_weights",
            "save_bundle",
            "-",
            "@export_plot",
            "export_csv",
            "export_results",
            "export_sheet",
            "record",
            "-",
            "quit",
        ),
    ),
    (
        "&Run",
        (
            "run",
            "pause",
            "step",
            "step_epoch",
            "stop",
            "reset",
            "replay",
            "-",
            "compare",
            "clear_race",
            "lr_up",
            "lr_down",
            "faster",
            "slower",
            "-",
            "defaults",
        ),
    ),
    ("&Tools", ("@tools",)),  # one entry per row of the tool table (gui/tools.py)
    ("&Lessons", ("@lessons",)),
    ("&View", ("overlay", "grid", "-", "presentation", "-", "@docks", "@theme")),
    ("&Help", ("shortcuts", "about")),
)
TOOLBAR: tuple[str, ...] = (
    "run",
    "pause",
    "step",
    "step_epoch",
    "stop",
    "reset",
    "-",
    "compare",
    "clear_race",
    "-",
    "@speed",
)


class ActionTable(QtCore.QObject):
    """The ``QAction`` of every :data:`ACTIONS` entry and every tool, owned by ``window``, and
    what is built from them. Triggering an action calls ``window.<room>.<method>(*args)``.

    ``tools``: the tool table's rows (name, text, tip, shortcuts); each becomes an action
    calling ``window.tools.open(name)``, listed in the Tools menu.
    """

    def __init__(
        self,
        window: QtWidgets.QMainWindow,
        specs: tuple[ActionSpec, ...] = ACTIONS,
        tools: Iterable[Any] = (),
    ) -> None:
        super().__init__(window)
        self._window = window
        tool_specs = tuple(
            ActionSpec(t.name, t.text, "tools.open", (t.name,), t.shortcuts, t.tip) for t in tools
        )
        self.tool_names = [t.name for t in tool_specs]
        at = next((i + 1 for i, s in enumerate(specs) if s.name == "defaults"), len(specs))
        specs = (*specs[:at], *tool_specs, *specs[at:])  # the F1 list keeps the Run menu's order
        self.specs = {s.name: s for s in specs}
        self.actions: dict[str, QtGui.QAction] = {}
        self._by_action: dict[QtGui.QAction, ActionSpec] = {}
        groups: dict[str, QtGui.QActionGroup] = {}
        style = window.style()
        self._standard_icons: dict[str, QtGui.QIcon] = {}
        for spec in specs:
            act = QtGui.QAction(spec.text, window)
            act.setObjectName(f"act_{spec.name}")
            if spec.shortcuts:
                act.setShortcuts([QtGui.QKeySequence(k) for k in spec.shortcuts])
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            keys = self.keys_text(act)
            act.setToolTip(f"{spec.tip} ({keys})" if keys and spec.tip else (spec.tip or keys))
            act.setStatusTip(spec.tip)
            if spec.icon is not None:
                icon = style.standardIcon(getattr(QtWidgets.QStyle.StandardPixmap, spec.icon))
                self._standard_icons[spec.name] = icon
                act.setIcon(icon)
            act.setCheckable(spec.checkable)
            if spec.group is not None:
                groups.setdefault(spec.group, QtGui.QActionGroup(window)).addAction(act)
            # a bound method of a QObject: Qt holds it weakly (a lambda would keep the window alive)
            act.triggered.connect(self._on_triggered)
            window.addAction(act)
            self.actions[spec.name] = act
            self._by_action[act] = spec

    def __getitem__(self, name: str) -> QtGui.QAction:
        return self.actions[name]

    def tint_icons(self, palette: QtGui.QPalette | None) -> None:
        """Draw every icon in ``palette``'s button-text colour (disabled: its disabled
        button text), e.g. for the dark theme, where the style's dark pictograms vanish;
        ``None`` gives back the style's own icons."""
        for name, icon in self._standard_icons.items():
            if palette is not None:
                group = QtGui.QPalette.ColorGroup
                role = QtGui.QPalette.ColorRole.ButtonText
                icon = tinted_icon(
                    icon, palette.color(group.Active, role), palette.color(group.Disabled, role)
                )
            self.actions[name].setIcon(icon)

    @Slot()
    def _on_triggered(self) -> None:
        spec = self._by_action.get(self.sender())
        if spec is not None:
            target: Any = self._window
            for name in spec.method.split("."):  # "room.method": a method of one of the window's rooms
                target = getattr(target, name)
            target(*spec.args)

    @staticmethod
    def keys_text(act: QtGui.QAction) -> str:
        return ", ".join(s.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts())

    def build_menus(
        self, menubar: QtWidgets.QMenuBar, places: Mapping[str, Callable[[QtWidgets.QMenu], None]]
    ) -> dict[str, QtWidgets.QMenu]:
        """Fill ``menubar`` from :data:`MENUS`; ``places[name](menu)`` fills each ``@name``."""
        menus = {}
        for title, entries in MENUS:
            menu = menubar.addMenu(title)
            menus[title.replace("&", "")] = menu
            self._fill(menu, entries, places)
        return menus

    def build_toolbar(
        self, toolbar: QtWidgets.QToolBar, places: Mapping[str, Callable[[QtWidgets.QToolBar], None]]
    ) -> None:
        """Fill ``toolbar`` from :data:`TOOLBAR`."""
        self._fill(toolbar, TOOLBAR, places)

    def _fill(self, widget: Any, entries: Iterable[str], places: Mapping[str, Callable[[Any], None]]) -> None:
        """Add ``entries`` to a menu or toolbar: "-" a separator, "@name" whatever
        ``places[name]`` adds, any other name that action."""
        for entry in entries:
            if entry == "-":
                widget.addSeparator()
            elif entry == "@tools":
                for name in self.tool_names:
                    widget.addAction(self.actions[name])
            elif entry.startswith("@"):
                places[entry[1:]](widget)
            else:
                widget.addAction(self.actions[entry])

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, command) of every action that has a shortcut, in table order."""
        return [
            (self.keys_text(act), act.text().replace("&", ""))
            for act in self.actions.values()
            if act.shortcuts()
        ]

    def show_shortcuts(self) -> None:
        """Help → Keyboard shortcuts: :meth:`shortcut_rows` as a table."""
        rows = "".join(
            f"<tr><td><b>{html.escape(keys, quote=False)}</b></td><td>{html.escape(text, quote=False)}</td></tr>"
            for keys, text in self.shortcut_rows()
        )
        QtWidgets.QMessageBox.information(
            self._window, "Keyboard shortcuts", f"<table cellpadding=3>{rows}</table>"
        )


def tinted_icon(icon: QtGui.QIcon, colour: QtGui.QColor, disabled: QtGui.QColor) -> QtGui.QIcon:
    """``icon`` redrawn in one colour: ``colour`` in the normal and active modes, ``disabled``
    when its action is disabled. The darker a pixel of the original, the more opaque it is
    drawn, so a dark pictogram becomes a solid one of ``colour`` and a coloured picture keeps
    its outlines over a faint fill. Drawn at :data:`ICON_SIZES` (and the screen's pixel ratio)."""
    import numpy as np

    out = QtGui.QIcon()
    app = QtGui.QGuiApplication.instance()
    ratios = sorted({1.0, app.devicePixelRatio() if app is not None else 1.0})  # sharp on HiDPI too
    for size, ratio in ((size, ratio) for size in ICON_SIZES for ratio in ratios):
        source = icon.pixmap(QtCore.QSize(size, size), ratio)
        if source.isNull():
            continue
        image = source.toImage().convertToFormat(QtGui.QImage.Format.Format_ARGB32)
        w, h = image.width(), image.height()
        bgra = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 4 * w]
        bgra = bgra.reshape(h, w, 4).astype(np.float32) / 255.0
        luminance = bgra[..., 2] * 0.299 + bgra[..., 1] * 0.587 + bgra[..., 0] * 0.114
        alpha = bgra[..., 3] * np.clip(0.3 + 0.7 * (1.0 - luminance) / 0.6, 0.0, 1.0)
        for mode, fill in ((QtGui.QIcon.Mode.Normal, colour), (QtGui.QIcon.Mode.Disabled, disabled)):
            pixels = np.empty((h, w, 4), np.uint8)
            pixels[..., 0], pixels[..., 1], pixels[..., 2] = fill.blue(), fill.green(), fill.red()
            pixels[..., 3] = np.round(alpha * 255.0)
            tinted = QtGui.QImage(pixels.data, w, h, 4 * w, QtGui.QImage.Format.Format_ARGB32).copy()
            tinted.setDevicePixelRatio(image.devicePixelRatio())
            out.addPixmap(QtGui.QPixmap.fromImage(tinted), mode)
    return out

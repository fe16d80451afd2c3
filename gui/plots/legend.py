"""The legend strip above the plots (one entry per run, in its colour) and its export twin.

The strip fits its width: entries never break inside, and at most :data:`MAX_LINES` lines
(:data:`PRESENTING_LINES` in presentation mode) are used while the wording can be shortened. Tried in turn, until the entries fit: every
run's whole label; only what tells a run from the others (:func:`.titles.distinct_labels`);
then the labels elided with "…" (no fewer than :data:`MIN_LABEL_CHARS` characters), each
run's status ("— stopped") kept whole. A note that names another run ("LR same as ...",
:class:`SameAs`) names it as its own entry is shown. The full legend is the strip's tooltip,
and exports draw the whole wording (:func:`legend_document`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from optiscope.gui.colors import readable_color, run_color
from optiscope.gui.plots.buffers import RunData
from optiscope.gui.plots.style import TEXT_PT, font
from optiscope.gui.plots.titles import MIN_LABEL_CHARS, distinct_labels
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

__all__ = ["legend_html", "legend_document", "LegendStrip", "SameAs", "Note", "MAX_LINES", "PRESENTING_LINES"]

EMPTY_TEXT = "Each run keeps one colour in every plot."
MAX_LINES = 3  # the strip's lines while the wording can still be shortened ...
PRESENTING_LINES = 2  # ... and in presentation mode, where the results table needs the room
GAP = "\xa0" * 4  # between two entries of a line
FIT_AIR = 8  # pixels kept free at a line's end (rounding, the label's own margins)


@dataclass(frozen=True)
class SameAs:
    """A note saying this run's ``what`` (e.g. "LR") is the same as run ``run_id``'s, or, with
    ``close``, that it lies on top of it over much of the run (drawn, they hide each other;
    they may still part somewhere: "overlaps", not "same as")."""

    what: str
    run_id: int
    close: bool = False


Note = str | SameAs


def _note_text(note: Note, names: Mapping[int, str], compact: bool = False) -> str:
    """A note's words; ``compact``: "LR = lr=0.1" for "LR same as lr=0.1" ("≈" for "overlaps")."""
    if isinstance(note, SameAs):
        verb = (" ≈" if compact else " overlaps") if note.close else (" =" if compact else " same as")
        return f"{note.what}{verb} {names.get(note.run_id, f'run {note.run_id}')}"
    return note


def _entry_html(
    r: RunData,
    name: str,
    notes: Sequence[Note],
    names: Mapping[int, str],
    text_color: str | None,
    links: bool,
    faded: bool,
    background: str | None,
    compact: bool = False,
) -> str:
    colour = run_color(r.group)  # the runner's colour (every seed of it shares it)
    colour = (readable_color(colour, background) if background else colour).name()
    # a run's name is never broken over two lines
    shown = html.escape(name, quote=False).replace(" ", "&nbsp;")
    entry = f'<span style="color:{colour}; font-weight:bold">━━</span>&nbsp;{shown}'
    if notes:
        text = "; ".join(_note_text(n, names, compact) for n in notes)
        entry += f" <i>({html.escape(text, quote=False)})</i>"
    if faded:
        entry = f'<span style="color:#a0a0a0">{entry.replace(colour, "#c8c8c8")}</span>'
    if links:
        fg = text_color or "palette(window-text)"
        entry = f'<a href="run:{r.id}" style="text-decoration:none; color:{fg}">{entry}</a>'
    return entry


def _as_lists(notes: Mapping[int, Note | Sequence[Note]] | None) -> dict[int, list[Note]]:
    out: dict[int, list[Note]] = {}
    for rid, n in (notes or {}).items():
        out[rid] = [n] if isinstance(n, (str, SameAs)) else list(n)
    return out


def legend_html(
    runs: Iterable[RunData],
    text_color: str | None = None,
    links: bool = False,
    faded: Iterable[int] = (),
    notes: Mapping[int, Note | Sequence[Note]] | None = None,
    background: str | None = None,
) -> str:
    """One entry per run (by id): a line in its colour and its title; text in ``text_color``
    (None: the widget's own palette). ``links``: each entry is a ``run:<id>`` link (click to
    spotlight); runs in ``faded`` are greyed; ``notes`` adds notes (in brackets) to a run;
    on ``background`` a faint run colour's line is darkened (lightened) to read."""
    faded = set(faded)
    runs = sorted(runs, key=lambda r: r.id)
    names = {r.id: r.label for r in runs}
    all_notes = _as_lists(notes)
    entries = [
        _entry_html(r, r.title, all_notes.get(r.id, []), names, text_color, links, r.id in faded, background)
        for r in runs
    ]
    body = " &nbsp;&nbsp; ".join(entries)
    return f'<span style="color:{text_color}">{body}</span>' if text_color else body


def legend_document(
    runs: Iterable[RunData],
    width: int,
    text_color: str,
    notes: Mapping[int, Note | Sequence[Note]] | None = None,
    background: str | None = None,
) -> QtGui.QTextDocument:
    """The legend as a text document ``width`` pixels wide, to draw under an exported plot
    on ``background``."""
    doc = QtGui.QTextDocument()
    doc.setDefaultFont(font(TEXT_PT))
    doc.setHtml(legend_html(runs, text_color, notes=notes, background=background))
    doc.setTextWidth(max(width - 16, 100))
    return doc


_widths: dict[tuple[str, str], float] = {}  # (rich text, font key) -> width: fits retry wordings


def _html_width(text: str, qfont: QtGui.QFont) -> float:
    """The width of one unbroken line of rich ``text`` in ``qfont``."""
    key = (text, qfont.key())
    width = _widths.get(key)
    if width is None:
        if len(_widths) > 4096:
            _widths.clear()
        doc = QtGui.QTextDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(qfont)
        doc.setHtml(text)
        width = _widths[key] = doc.idealWidth()
    return width


def pack(widths: Sequence[float], room: float, gap: float) -> list[list[int]]:
    """Entries of ``widths`` in order, as few to a line as fit ``room`` (``gap`` between two);
    an entry wider than the room has a line of its own."""
    lines: list[list[int]] = []
    used = 0.0
    for i, w in enumerate(widths):
        if lines and used + gap + w <= room:
            lines[-1].append(i)
            used += gap + w
        else:
            lines.append([i])
            used = w
    return lines


class LegendStrip(QtWidgets.QLabel):
    """The legend above the plots; always one line tall at least, so it appearing never
    re-lays out the plots. Clicking a run's entry emits ``run_clicked(run_id)``; clicking the
    hint (:meth:`set_hint`) emits ``hint_clicked``.

    It breaks its lines itself (between entries, never inside one) and shortens the wording
    to keep to :attr:`max_lines` lines (see the module's text); it never asks for more width
    than it is given, so a long label never widens the plots or pushes an axis out of view.
    """

    run_clicked = Signal(int)
    hint_clicked = Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.faded: set[int] = set()
        self._notes: dict[str, dict[int, list[Note]]] = {}  # by source (a plot part, a check)
        self._drop: dict[str, int] = {}  # by source: notes with a higher rank go first when room is short
        self._runs: list[RunData] = []
        self._shown: tuple[object, ...] | None = None  # what show_runs fitted the entries for
        self._hint: tuple[str, ...] = ()
        self.max_lines = MAX_LINES
        self._lines: list[str] = []
        self._fitted_for: tuple[object, ...] | None = None
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.linkActivated.connect(self._on_link)
        self.setWordWrap(False)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setFont(font(TEXT_PT + 1))
        self.setContentsMargins(6, 0, 6, 0)
        self.setMinimumHeight(QtGui.QFontMetrics(self.font()).lineSpacing() + 4)
        self.show_runs([])

    # ------------------------------------------------------------------ what it shows
    @property
    def notes(self) -> dict[int, list[Note]]:
        """Each run's notes, from every source in the order they were set."""
        return self._notes_of(self._notes)

    def _notes_of(self, sources: Iterable[str]) -> dict[int, list[Note]]:
        out: dict[int, list[Note]] = {}
        for source in sources:
            for rid, notes in self._notes[source].items():
                out.setdefault(rid, []).extend(notes)
        return out

    def set_notes(self, source: str, notes: Mapping[int, Note | Sequence[Note]], drop: int = 0) -> bool:
        """Replace the notes of ``source`` (e.g. "lr"), one or several per run; call
        :meth:`show_runs` to see them. When room is short, notes with a higher ``drop`` go
        first, all of them before a run's label is shortened (0: never). Returns whether
        they changed."""
        new = _as_lists(notes)
        self._drop[source] = drop
        if new == self._notes.get(source, {}):
            return False
        if new:
            self._notes[source] = new
        else:
            self._notes.pop(source, None)
        self._fitted_for = None  # the next show_runs lays the legend out again, with them
        return True

    def set_hint(self, *wordings: str) -> None:
        """A link at the legend's end (longest wording first; none: no hint); a click on it
        emits ``hint_clicked``."""
        if wordings != self._hint:
            self._hint = wordings
            self._fit(force=True)

    def set_max_lines(self, lines: int) -> None:
        """Keep to ``lines`` lines while the wording can be shortened."""
        if lines != self.max_lines:
            self.max_lines = lines
            self._fit(force=True)

    @property
    def hint(self) -> str:
        """The hint's full wording ("" when there is none)."""
        return self._hint[0] if self._hint else ""

    def show_runs(self, runs: Iterable[RunData]) -> None:
        """One entry per run in ``runs``; a hint when there are none. The same entries as
        shown already (every batch of a live race retitles its runs) are not fitted again."""
        self._runs = sorted(runs, key=lambda r: r.id)
        palette = self.palette()
        shown = (
            tuple((r.id, r.group, r.label, r.title) for r in self._runs),
            frozenset(self.faded),
            palette.color(QtGui.QPalette.ColorRole.WindowText).rgba(),
            palette.color(QtGui.QPalette.ColorRole.Window).rgba(),
        )
        if shown == self._shown:
            self._fit()  # only if its room changed
            return
        self._shown = shown
        self._fit(force=True)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def _on_link(self, link: str) -> None:
        if link.startswith("run:"):
            self.run_clicked.emit(int(link[4:]))
        elif link == "hint:":
            self.hint_clicked.emit()

    # ------------------------------------------------------------------ fitting
    def _room(self) -> int:
        return self.contentsRect().width() - 2 * self.margin() - FIT_AIR

    def _wordings(self) -> list[list[str]]:
        """Each run's label wordings, longest first: the label, then what tells it apart."""
        labels = [r.label for r in self._runs]
        return [[r.label, *distinct_labels(r.label, labels)] for r in self._runs]

    def _fit(self, force: bool = False) -> None:
        room = self._room()
        key = (room, self.font().key())
        if not force and key == self._fitted_for:
            return
        self._fitted_for = key
        if not self._runs:
            self._lines = [EMPTY_TEXT]
            self.setText(EMPTY_TEXT)
            self.setToolTip(
                "One colour per run in every plot; click a run to spotlight it, again to show all"
            )
            return
        fg = self.palette().color(QtGui.QPalette.ColorRole.WindowText).name()
        bg = self.palette().color(QtGui.QPalette.ColorRole.Window).name()
        metrics = QtGui.QFontMetrics(self.font())
        gap = metrics.horizontalAdvance(GAP)
        every = self.notes
        ranks = sorted({self._drop.get(s, 0) for s in self._notes} | {0}, reverse=True)
        # every note, then without the notes of the highest rank, ..., down to the kept ones
        note_sets = [self._notes_of(s for s in self._notes if self._drop.get(s, 0) < r) for r in ranks[:-1]]
        note_sets = [every, *note_sets] if note_sets else [every]
        required = note_sets[-1]
        wordings = self._wordings()
        full, short = [w[0] for w in wordings], [w[-1] for w in wordings]

        suffixes = [r.title[len(r.label) :] for r in self._runs]  # " — stopped", " (5 seeds)"
        shared = suffixes[0] if len(self._runs) > 1 and len(set(suffixes)) == 1 else ""

        def layout(
            names: Sequence[str], hint: str, notes: Mapping[int, list[Note]] = required
        ) -> tuple[list[str], list[list[int]]]:
            by_id = {r.id: n for r, n in zip(self._runs, names, strict=True)}
            compact = list(names) != full
            entries = [
                _entry_html(
                    r,
                    n + ("" if compact and shared else suffix),
                    notes.get(r.id, []),
                    by_id,
                    fg,
                    True,
                    r.id in self.faded,
                    bg,
                    compact,  # shortened names: shortened notes
                )
                for r, n, suffix in zip(self._runs, names, suffixes, strict=True)
            ]
            if compact and shared:  # every run's status said once
                entries.append(
                    html.escape(f"(all: {shared.strip(' —()')})", quote=False).replace(" ", "&nbsp;")
                )
            if hint:
                entries.append(
                    f'<a href="hint:" style="text-decoration:none; color:{fg}"><i>'
                    f"{html.escape(hint, quote=False).replace(' ', '&nbsp;')}</i></a>"
                )
            if room <= 0:  # not laid out yet
                return entries, [list(range(len(entries)))]
            return entries, pack([_html_width(e, self.font()) for e in entries], room, gap)

        hints = self._hint or ("",)
        chosen = None
        # whole labels with every note, then without the optional ones; then what tells the
        # runs apart; each with the longest hint that fits
        for names, notes in [(full, n) for n in note_sets] + [(short, n) for n in note_sets]:
            for hint in hints:
                entries, lines = layout(names, hint, notes)
                if len(lines) <= self.max_lines:
                    chosen = entries, lines
                    break
            if chosen is not None:
                break
        for hint in (hints[-1], "") if chosen is None else ():  # elided names: the shortest hint
            chosen = self._elided(short, hint, layout, metrics)
            if chosen is not None:
                break
        if chosen is None:  # not even the shortest labels fit: as many lines as it takes
            chosen = layout(self._cut(short, 0, metrics), "")
        entries, lines = chosen
        self.setText("<br>".join(GAP.join(entries[i] for i in line) for line in lines))
        self._lines = []
        for line in lines:
            doc = QtGui.QTextDocument()
            doc.setHtml(GAP.join(entries[i] for i in line))
            self._lines.append(doc.toPlainText().replace("\xa0", " ").strip())
        names = dict(zip([r.id for r in self._runs], full, strict=True))
        whole = [
            r.title + "".join(f" ({_note_text(n, names)})" for n in every.get(r.id, [])) for r in self._runs
        ]
        tip = [*whole, *([self.hint] if self.hint else []), "Click a run to spotlight it, again to show all"]
        self.setToolTip("\n".join(tip))

    @staticmethod
    def _cut(names: Sequence[str], cap: float, metrics: QtGui.QFontMetrics) -> list[str]:
        """``names`` elided to ``cap`` pixels, none below ``MIN_LABEL_CHARS`` characters."""
        out = []
        for n in names:
            shown = metrics.elidedText(n, Qt.TextElideMode.ElideRight, int(cap))
            if len(shown.rstrip("…")) < min(len(n), MIN_LABEL_CHARS):
                shown = n if len(n) <= MIN_LABEL_CHARS else n[:MIN_LABEL_CHARS] + "…"
            out.append(shown)
        return out

    def _elided(
        self,
        names: Sequence[str],
        hint: str,
        layout: Callable[[Sequence[str], str], tuple[list[str], list[list[int]]]],
        metrics: QtGui.QFontMetrics,
    ) -> tuple[list[str], list[list[int]]] | None:
        """The labels elided at the widest cap (pixels per label) at which the legend keeps to
        its lines; None when not even labels of ``MIN_LABEL_CHARS`` characters do."""
        low, high = 0.0, float(max(metrics.horizontalAdvance(n) for n in names))
        best = layout(self._cut(names, low, metrics), hint)
        if len(best[1]) > self.max_lines:
            return None
        while high - low > 2:
            mid = (low + high) / 2
            tried = layout(self._cut(names, mid, metrics), hint)
            if len(tried[1]) <= self.max_lines:
                low, best = mid, tried
            else:
                high = mid
        return best

    # ------------------------------------------------------------------ reading it
    def plain_text(self) -> str:
        """The legend as plain text (what a reader sees)."""
        return "    ".join(self._lines)

    def lines(self) -> list[str]:
        """The legend's lines as the strip shows them (plain text)."""
        return list(self._lines)

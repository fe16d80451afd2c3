"""The results table under the plots: one row per run that answers the lesson's question.

Columns come from the lesson's observations (:mod:`optiscope.engine.lessons`): epochs to
each threshold, then final and best validation accuracy, plateau LR drops, the train/val
gap at the end and why the run stopped. Sortable by any column (numbers sort as numbers,
"not reached" last); :meth:`ResultsTable.csv_text` is what File → Export results writes.

With several seeds per runner (:meth:`ResultsTable.set_plan`) the table has one row per
runner instead: each measure of :func:`engine.seeds.measures_for` as "mean ± half" of its
95 % interval (the engine's :meth:`~engine.seeds.Measure.text`; the tooltip names the
interval method and how many seeds reached a threshold), and a comparison column with the
engine's paired verdict of each runner against the leader on the first measure
(:func:`engine.seeds.leader_verdicts`). Its CSV has mean, low, high and n per measure.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from optiscope.engine import outcome
from optiscope.engine.formats import format_csv
from optiscope.engine.formats import format_percent as _pct
from optiscope.engine.lessons import Observation, ObservationDetector, RunOutcome, threshold_label
from optiscope.engine.seeds import Measure
from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import Qt

__all__ = ["ResultsTable", "Column", "columns_for"]

REASON_WORDS = outcome.REASON_WORDS  # the engine says how a run ended


@dataclass(frozen=True)
class Column:
    """One column: its header, its CSV name and how to read a run's value and text."""

    header: str
    csv_name: str
    value: Callable[[RunOutcome], float | str | None]
    text: Callable[[RunOutcome], str]
    tip: str = ""


def _epoch_text(e: int | None) -> str:
    return "not reached" if e is None else str(e)


def columns_for(observations: Sequence[Observation]) -> list[Column]:
    """The table's columns for a lesson with ``observations`` (every lesson gets the basics)."""
    cols = [Column("Run", "label", lambda o: o.label, lambda o: o.label)]
    det = ObservationDetector(observations)
    for i, obs in det.thresholds():
        name = threshold_label(obs)
        cols.append(
            Column(
                f"Epochs to {name}",
                f"epochs_to_{obs.metric}_{obs.value:g}",
                lambda o, i=i: o.thresholds.get(i),
                lambda o, i=i: _epoch_text(o.thresholds.get(i)),
                f"the first epoch at which {name}",
            )
        )
    for obs in observations:  # observations with a column of their own (speed, zero weights...)
        if hasattr(obs, "cell_text"):
            cols.append(Column(obs.header, obs.csv_name, obs.cell_value, obs.cell_text, obs.tip))
    cols += [
        Column("Final val acc", "final_val_acc", lambda o: o.final_val_acc, lambda o: _pct(o.final_val_acc)),
        Column(
            "Best val acc",
            "best_val_acc",
            lambda o: o.best_val_acc,
            lambda o: (
                _pct(o.best_val_acc)
                + (f" (epoch {o.best_val_acc_epoch})" if o.best_val_acc_epoch is not None else "")
            ),
        ),
        Column(
            "LR drops",
            "lr_drops",
            lambda o: o.lr_drops,
            lambda o: str(o.lr_drops),
            "times ReduceLROnPlateau lowered the rate",
        ),
        Column(
            "Gap (train − val)",
            "gap_acc",
            lambda o: o.gap_acc,
            lambda o: f"{100 * o.gap_acc:+.1f} pts" if math.isfinite(o.gap_acc) else "—",
            "training minus validation accuracy at the last epoch: overfitting shows as a large gap",
        ),
        Column(
            "Stopped by",
            "reason",
            lambda o: o.reason,
            lambda o: (
                REASON_WORDS.get(o.reason, o.reason)
                + (f" at update {o.diverged_step}" if o.diverged_step is not None else "")
                + (f" (epoch {o.epochs})" if o.reason in ("early_stopped", "stopped") else "")
            ),
        ),
    ]
    return cols


@dataclass(frozen=True)
class SeedCell:
    """One cell of a runner's row: its text, sort key and tooltip."""

    text: str
    key: tuple[int, float | str]
    tip: str = ""


COMPARISON = "Compared with the leader"


def seed_rows(
    plan: Any, outcomes: Sequence[RunOutcome], measures: Sequence[Measure]
) -> tuple[list[list[SeedCell]], list[Any]]:
    """A runner per row: its label, the verdict against the leader on ``measures[0]``, each
    measure's interval text -- all as :mod:`engine.seeds` words them. Also returns the
    runners' summaries (``RunnerSummary``, for the CSV)."""
    from optiscope.engine import stats
    from optiscope.engine.seeds import leader_verdicts, summarize_runners

    by_run = {o.run: o for o in outcomes}
    summaries = summarize_runners(plan, by_run, measures)
    leader, verdicts = leader_verdicts(plan, by_run, measures[0]) if measures else (None, {})
    n = plan.n_seeds
    rows = []
    for s in summaries:
        trained = sum(1 for r in s.runs if r in by_run)
        row = [
            SeedCell(s.label, (1, s.label.lower()), f"{s.label}: {n} seeds ({', '.join(map(str, s.seeds))})")
        ]
        for m in measures:
            iv = s.intervals[m.name]
            tip = f"mean ± half of its {stats.METHOD} interval over the seeds"
            if m.censored and iv.n < n:
                tip += f"; reached in {iv.n} of {n} seeds"
            elif iv.n < n:
                tip += f"; {iv.n} of {n} seeds have a value"
            if trained < n:
                tip += f" ({trained} of {n} seeds started so far)"
            if m.better is None:
                tip += "; no better direction (near 0 can mean nothing was learned): no leader, no verdict"
            row.append(SeedCell(m.text(iv), _sort_key(iv.mean if iv.n else None), tip))
        if leader is None:
            verdict = SeedCell("—", (2, 0.0), "no runner has a value yet")
        elif s.runner == leader:
            verdict = SeedCell("leader", (0, 0.0), f"the best mean {measures[0].header.lower()}")
        else:
            v = verdicts[s.runner]
            sure = 0 if v.winner is not None else 1
            # the engine's verdict; a note in brackets (seeds that never reached a threshold)
            # goes to the tooltip, so the column fits beside the runner's name on a projector
            said, _, note = v.text.partition(" (")
            tip = (
                f"{v.text}\npaired over seeds, {stats.METHOD}"
                if note
                else f"paired over seeds, {stats.METHOD}"
            )
            verdict = SeedCell(said, (sure, abs(v.diff.mean) if v.diff.n else 0.0), tip)
        row.insert(1, verdict)
        rows.append(row)
    return rows, summaries


def _sort_key(value: float | str | None) -> tuple[int, float | str]:
    """Numbers by value, text alphabetically, missing/NaN last."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return (2, 0.0)
    if isinstance(value, str):
        return (1, value.lower())
    return (0, float(value))


def _two_lines(text: str) -> str:
    """``text`` broken at the space nearest its middle."""
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return text[:cut] + "\n" + text[cut + 1 :]


class _Item(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its value, not its text."""

    def __init__(self, text: str, key: tuple[int, float | str]) -> None:
        super().__init__(text)
        self.key = key
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        if isinstance(other, _Item):
            return self.key < other.key
        return super().__lt__(other)


class ResultsTable(QtWidgets.QWidget):
    """The lesson's question above a sortable table of run outcomes."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsTable")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        self.question = QtWidgets.QLabel()
        self.question.setObjectName("lessonQuestion")
        self.question.setWordWrap(True)
        f = self.question.font()
        f.setBold(True)
        self.question.setFont(f)
        lay.addWidget(self.question)
        self.table = QtWidgets.QTableWidget()
        self.table.setObjectName("results")
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.table, 1)
        self._columns: list[Column] = []
        self._outcomes: list[RunOutcome] = []
        self._observations: tuple[Observation, ...] = ()
        self._plan: Any = None  # engine.seeds.SeedPlan of several seeds: one row per runner
        self._measures: list[Measure] = []
        self._summaries: list[Any] = []
        self._seed_rows: list[list[SeedCell]] = []
        self._normal_fonts: tuple[QtGui.QFont, QtGui.QFont] | None = None
        self._presenting = False
        self.set_lesson((), "")

    def set_lesson(self, observations: Sequence[Observation], question: str) -> None:
        """Columns for these observations; the question shown above them (hidden if empty)."""
        self._observations = tuple(observations)
        self.question.setText(question)
        self.question.setVisible(bool(question))
        self._set_columns()
        self.show_outcomes(self._outcomes)

    def set_plan(self, plan: Any) -> None:
        """The runs' seed plan (an ``engine.seeds.SeedPlan``): with several seeds per runner
        one row per runner (mean ± interval, a verdict); None or one seed: a row per run."""
        self._plan = plan if plan is not None and plan.n_seeds > 1 else None
        self._scroll_bar_policy()
        self._set_columns()
        self.show_outcomes(self._outcomes)

    def _scroll_bar_policy(self) -> None:
        """In a window a table of runners of several seeds keeps its sideways scroll bar: its
        verdicts are sentences that overflow once the first seeds finish, and a bar appearing
        then would change the table's height mid-run (every plot laid out and repainted again).
        Presenting, columns fit instead (they never scroll sideways)."""
        keep = self._plan is not None and not self._presenting
        self.table.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOn if keep else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        )

    @property
    def seeded(self) -> bool:
        """One row per runner of several seeds."""
        return self._plan is not None

    def _set_columns(self) -> None:
        from optiscope.engine.seeds import measures_for

        self._columns = columns_for(self._observations)
        self._measures = measures_for(self._observations) if self._plan is not None else []
        if self._plan is not None:
            first = self._measures[0].header.lower()
            self._columns = [
                Column("Runner", "label", lambda o: o.label, lambda o: o.label),
                # the answer next to the runner's name: the measures may scroll, it does not
                Column(
                    COMPARISON,
                    "comparison",
                    lambda o: None,
                    lambda o: "",
                    f"paired over seeds, on {first}: a winner only when the interval of the difference excludes zero",
                ),
                *(
                    Column(
                        m.header, m.name, lambda o: None, lambda o: "", "mean ± 95 % interval over the seeds"
                    )
                    for m in self._measures
                ),
            ]
        self.table.setColumnCount(len(self._columns))
        self.table.setHorizontalHeaderLabels([c.header for c in self._columns])
        for i, c in enumerate(self._columns):
            item = self.table.horizontalHeaderItem(i)
            if item is not None:
                item.setToolTip(c.tip)

    def show_outcomes(self, outcomes: Sequence[RunOutcome]) -> None:
        """One row per run, or per runner with several seeds (the current sort order is kept)."""
        self._outcomes = list(outcomes)
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # rows would move while they are being filled
        if self._plan is not None:
            rows, self._summaries = seed_rows(self._plan, self._outcomes, self._measures)
            self._seed_rows = rows
            self.table.setRowCount(len(rows))
            for r, cells in enumerate(rows):
                for col, cell in enumerate(cells):
                    item = _Item(cell.text, cell.key)
                    item.setToolTip(cell.tip)
                    self.table.setItem(r, col, item)
        else:
            self.table.setRowCount(len(self._outcomes))
            for row, o in enumerate(self._outcomes):
                for col, c in enumerate(self._columns):
                    self.table.setItem(row, col, _Item(c.text(o), _sort_key(c.value(o))))
        self.table.setSortingEnabled(sorting)
        self.fit_columns()

    def set_presentation(self, on: bool) -> None:
        """Projector text (presentation mode): the question, headers and rows as large as the
        plots' tick labels there (>= 18 px); off: the normal text."""
        if self._normal_fonts is None:
            self._normal_fonts = (self.question.font(), self.table.font())
        self._presenting = on
        self._scroll_bar_policy()
        question, table = (QtGui.QFont(f) for f in self._normal_fonts)
        if on:
            from .plots import presentation  # loaded with the plots (pyqtgraph) already

            for f in (question, table):  # as large as the plots' tick labels
                f.setPointSizeF(max(f.pointSizeF(), presentation.PROJECTOR_PT))
        self.question.setFont(question)
        self.table.setFont(table)
        header = self.table.horizontalHeader()
        header.setFont(table)
        # the window's style sheet draws header sections in its own font size: name ours
        header.setStyleSheet(f"QHeaderView {{ font-size: {table.pointSizeF():g}pt; }}" if on else "")
        rows = self.table.verticalHeader()
        rows.setMinimumSectionSize(1)
        rows.setDefaultSectionSize(QtGui.QFontMetrics(table).height() + 4)
        for r in range(self.table.rowCount()):
            self.table.setRowHeight(r, rows.defaultSectionSize())
        self.fit_columns()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.fit_columns()

    def _room(self, width: int | None = None) -> int:
        """Pixels of width the columns have in a table ``width`` wide (None: as it is now),
        less a vertical scroll bar's (kept whether or not one shows: the columns must not
        change with the rows' scrolling, nor the header's lines with them)."""
        t = self.table
        margins = self.layout().contentsMargins()
        bar = t.verticalScrollBar().sizeHint().width()
        width = self.width() if width is None else width
        return width - margins.left() - margins.right() - 2 * t.frameWidth() - bar

    def _columns_width(self) -> int:
        """Pixels the columns want (their contents' and headers'; the stretched last section
        may be wider on screen)."""
        t = self.table
        header = t.horizontalHeader()
        return sum(
            max(header.sectionSizeHint(i), t.sizeHintForColumn(i))
            for i in range(header.count())
            if not t.isColumnHidden(i)
        )

    def fit_columns(self, width: int | None = None) -> None:
        """Columns as wide as their contents; when together they are wider than the table
        (``width``, None: as it is now; projector text), headers wider than their cells
        break onto two lines, so the cells, where the runs differ, are not cut nor
        scrolled away; presenting, the last columns then give way (the table's tooltip
        names them), and the runner and verdict cells break onto two lines last."""
        t = self.table
        for i, c in enumerate(self._columns):
            item = t.horizontalHeaderItem(i)
            if item is not None:
                item.setText(c.header)
        wrapped = self._cells_on_one_line()
        for i in range(t.columnCount()):
            t.setColumnHidden(i, False)
        t.setToolTip("")
        t.resizeColumnsToContents()
        if self._columns_width() <= self._room(width):
            if wrapped:
                self._fit_rows()
            return
        header = t.horizontalHeader()
        for i, c in enumerate(self._columns):
            item = t.horizontalHeaderItem(i)
            if item is not None and " " in c.header and header.sectionSizeHint(i) > t.sizeHintForColumn(i):
                item.setText(_two_lines(c.header))
        t.resizeColumnsToContents()
        words = [0, 1] if self._plan is not None else [0]
        # presenting, and still too wide: the last columns give way (a projector cannot
        # scroll sideways, and rows of one line leave the plots their room); the CSV export
        # keeps every column
        if self._presenting:
            keep = len(words) + 1  # the runner, the verdict and the first measure stay
            for col in range(t.columnCount() - 1, keep - 1, -1):
                if self._columns_width() <= self._room(width):
                    break
                t.setColumnHidden(col, True)
        # presenting, still too wide: the columns in words (the verdict, the runner) break
        # onto two lines (in a window the table scrolls sideways instead: rows stay one line)
        for col in sorted(words, key=t.columnWidth, reverse=True) if self._presenting else ():
            if self._columns_width() <= self._room(width):
                break
            for r in range(t.rowCount()):
                item = t.item(r, col)
                if item is not None and " " in item.text():
                    item.setText(_two_lines(item.text()))
                    wrapped = True
            t.resizeColumnsToContents()
        if wrapped:
            self._fit_rows()
        hidden = [c.header for i, c in enumerate(self._columns) if t.isColumnHidden(i)]
        t.setToolTip(
            f"Not shown at this width: {', '.join(hidden)} (File ▸ Export results writes every column)"
            if hidden
            else ""
        )

    def _cells_on_one_line(self) -> bool:
        """Every cell's text back on one line; whether one was broken."""
        t = self.table
        broken = False
        for r in range(t.rowCount()):
            for c in range(t.columnCount()):
                item = t.item(r, c)
                if item is not None and "\n" in item.text():
                    item.setText(item.text().replace("\n", " "))
                    broken = True
        return broken

    def _fit_rows(self) -> None:
        """Each row as tall as its cells' lines."""
        t = self.table
        line = QtGui.QFontMetrics(t.font()).height()
        one = t.verticalHeader().defaultSectionSize()
        for r in range(t.rowCount()):
            texts = [t.item(r, c).text() for c in range(t.columnCount()) if t.item(r, c) is not None]
            lines = max((x.count("\n") + 1 for x in texts), default=1)
            t.setRowHeight(r, one + (lines - 1) * line)

    def rows_height(self) -> int:
        """Pixels of every row (one empty row's height when there are none)."""
        t = self.table
        return sum(t.rowHeight(r) for r in range(t.rowCount())) or self.row_height()

    def row_height(self) -> int:
        """Pixels of one row."""
        return self.table.verticalHeader().defaultSectionSize()

    def wanted_height(self, width: int | None = None) -> int:
        """Pixels that show the question, the header and every row without scrolling, in a
        table ``width`` pixels wide (None: as it is now)."""
        t = self.table
        rows = self.rows_height()
        always = t.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOn
        bar = (
            t.horizontalScrollBar().sizeHint().height()
            if always or self._columns_width() > self._room(width)
            else 0
        )
        margins = self.layout().contentsMargins()
        text_width = (self.width() if width is None else width) - margins.left() - margins.right()
        # a wrapped question is as tall as its lines at the table's width (its size hint is not)
        question = (
            max(self.question.heightForWidth(text_width), self.question.minimumSizeHint().height())
            + self.layout().spacing()
            if self.question.text()
            else 0
        )
        return (
            question
            + t.horizontalHeader().sizeHint().height()  # its height once laid out (lines may change)
            + rows
            + bar
            + 2 * t.frameWidth()
            + margins.top()
            + margins.bottom()
        )

    def headers(self) -> list[str]:
        return [c.header for c in self._columns]

    def rows(self) -> list[list[str]]:
        """The table's texts, each on one line (in the current sort order; hidden columns too)."""
        return [
            [self.table.item(r, c).text().replace("\n", " ") for c in range(self.table.columnCount())]
            for r in range(self.table.rowCount())
        ]

    def csv_text(self) -> str:
        """Every run's outcome with raw numbers (fractions, epochs, counts), in run order;
        with several seeds per runner, every runner's mean, low, high and n per measure."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if self._plan is not None:
            head = ["runner", "label", "seeds"]
            for m in self._measures:
                head += [f"{m.name}_{part}" for part in ("mean", "low", "high", "n")]
            w.writerow([*head, "comparison"])
            for s, row in zip(self._summaries, self._seed_rows, strict=True):
                values: list[Any] = [s.runner, s.label, len(s.runs)]
                for m in self._measures:
                    iv = s.intervals[m.name]
                    values += [
                        "" if not math.isfinite(v) else format_csv(v) for v in (iv.mean, iv.low, iv.high)
                    ]
                    values.append(iv.n)
                w.writerow([*values, row[1].text])
            return buf.getvalue()
        w.writerow(["run", *(c.csv_name for c in self._columns)])
        for o in self._outcomes:
            values = []
            for c in self._columns:
                v = c.value(o)
                values.append("" if v is None else format_csv(v))
            w.writerow([o.run, *values])
        return buf.getvalue()

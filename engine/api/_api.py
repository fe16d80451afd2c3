"""The notebook API's implementation; ``optiscope/__init__`` exposes it lazily."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope.engine.config import ConfigError, ExperimentConfig, RunConfig, load_toml
from optiscope.engine.dataset import DataError  # noqa: F401 (re-exported by optiscope)

if TYPE_CHECKING:
    import pandas as pd
    from optiscope.engine.loop import RunResult
    from optiscope.engine.seed_report import SeedReport

# the public names are listed once, in optiscope/__init__ (engine/api/__init__.py)


# --------------------------------------------------------------------------- experiments
def load(path: str | Path) -> ExperimentConfig:
    """Read an experiment TOML file (ConfigError names the file, field and fix)."""
    return load_toml(path)


def preset(name: str) -> ExperimentConfig:
    """A bundled preset by name (see :func:`presets`)."""
    from optiscope.engine.presets import get_preset

    return get_preset(name)


def presets() -> list[str]:
    """The bundled presets' names."""
    from optiscope.engine.presets import preset_names

    return preset_names()


def share(exp: ExperimentConfig) -> str:
    """The one-line share code of ``exp`` (``optiscope share``)."""
    from optiscope.engine.share import encode

    return encode(_experiment(exp))


def from_code(code: str) -> ExperimentConfig:
    """The experiment a share code holds (``optiscope run --from-code``)."""
    from optiscope.engine.share import decode

    return decode(code)


def _experiment(exp: ExperimentConfig | str | Path) -> ExperimentConfig:
    if isinstance(exp, ExperimentConfig):
        return exp
    if isinstance(exp, (str, Path)):
        return load_toml(exp)
    raise ConfigError(
        f"expected an experiment (optiscope.preset(...), optiscope.load(...)) or a TOML path, "
        f"got {type(exp).__name__}"
    )


def _overridden(
    exp: ExperimentConfig | str | Path,
    epochs: int | None,
    seed: int | None,
    data: str | Path | None,
    target: str | None,
    drop_missing: bool,
    seeds: int | None = None,
) -> ExperimentConfig:
    """The experiment with the CLI's overrides (``--epochs``, ``--seed``, ``--data``, ``--seeds``),
    checked as the CLI checks them (ConfigError, the CLI's words with the keyword's name)."""
    from optiscope.engine.cli.common import check_devices
    from optiscope.engine.config import DatasetConfig, format_validation_error
    from pydantic import ValidationError

    experiment = _experiment(exp)
    check_devices(experiment, experiment.name)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be a whole number, at least 1, got {epochs!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed must be a whole number, 0 or more, got {seed!r}")
    if seeds is not None:
        from optiscope.engine.cli.common import UsageError, check_seed_count

        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ConfigError(f"seeds must be a whole number, at least 1, got {seeds!r}")
        try:
            check_seed_count(seeds, len(experiment.runs()), "seeds")
        except UsageError as exc:
            raise ConfigError(str(exc)) from None
    dataset = None
    if data is not None or target is not None:
        if data is None or not target:
            raise ConfigError("data (a CSV file) and target (its label column) go together; give both")
        dataset = DatasetConfig(name="csv", path=str(data), target=target, drop_missing=drop_missing)
    elif drop_missing:
        raise ConfigError("drop_missing applies to a CSV given with data=FILE.csv, target=COLUMN")
    try:
        return experiment.with_overrides(epochs=epochs, seed=seed, dataset=dataset, seeds=seeds)
    except ValidationError as exc:
        problems = format_validation_error(exc)
        sep = "\n" if "\n" in problems else " "
        raise ConfigError(f"the overrides are invalid:{sep}{problems}") from None


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One CPU thread while training, as the CLI trains (the same float sums, the same numbers)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- run
@dataclass
class Result:
    """What :func:`run` gives: the CLI's result files as DataFrames and a dict, and the raw results.

    ``metrics`` (run, label, epoch, lr, train_loss, train_acc, val_loss, val_acc, seconds, runner,
    seed), ``steps`` (run, step, epoch, lr, loss, runner, seed) and ``layers`` (per-layer
    statistics) have the columns of ``metrics.csv``, ``steps.csv`` and ``layers.csv``; ``summary``
    is ``summary.json``. ``runners`` is every runner's measures over its seeds (one row per runner
    and measure: mean and the ends of its 95 % Student t interval) and ``verdicts`` every pair of
    runners' paired comparison (summary.json's ``runners`` and ``verdicts`` as tables).
    ``save``, ``save_weights`` and ``save_bundle`` write what the CLI writes. ``models`` holds each
    run's trained ``torch.nn`` module (best-epoch weights when early stopping restored them; None
    for a failed run).
    """

    experiment: ExperimentConfig
    runs: list[RunConfig]
    results: list[RunResult] = field(repr=False)
    metrics: pd.DataFrame = field(repr=False)
    steps: pd.DataFrame = field(repr=False)
    layers: pd.DataFrame = field(repr=False)
    summary: dict = field(repr=False)
    runners: pd.DataFrame = field(repr=False)
    verdicts: pd.DataFrame = field(repr=False)
    report: SeedReport = field(repr=False)
    #: every engine event of the runs, in order (what :func:`show` draws)
    events: list = field(default_factory=list, repr=False)
    #: the window that showed the runs live (``run(..., show=True)``), or None
    window: Any = field(default=None, repr=False)

    @property
    def seeds(self) -> int:
        """Seeds per runner."""
        return self.report.n_seeds

    @property
    def models(self) -> list[Any]:
        return [r.model for r in self.results]

    def save(self, folder: str | Path) -> Path:
        """Write the five result files ``optiscope run`` writes into ``folder``."""
        from optiscope.engine.runner import write_outputs

        return write_outputs(folder, self.experiment, self.runs, self.results, report=self.report)

    def save_weights(self, folder: str | Path) -> list[Path]:
        """Each run's ``state_dict`` as ``folder/run-N.pt`` (``optiscope run --save-weights``)."""
        from optiscope.engine.weights import save_weights

        return save_weights(folder, self.results)[0]

    def save_bundle(self, path: str | Path) -> Path:
        """A reproducibility bundle of this result (``optiscope run --save-bundle``): config, metrics,
        steps, layers, weights, the PyTorch script, versions and a README in one zip."""
        from optiscope.engine.cli.bundle import save_run_bundle

        with tempfile.TemporaryDirectory(prefix="optiscope-api-") as tmp:
            out = self.save(tmp)
            return save_run_bundle(Path(path), self.experiment, self.results, out)

    def _repr_html_(self) -> str:  # a finished run's summary in Jupyter
        return self.final()._repr_html_()  # type: ignore[operator]

    def final(self) -> pd.DataFrame:
        """The last epoch of every run (one row per run)."""
        return self.metrics.groupby("run", sort=True).tail(1).reset_index(drop=True)

    def table(self) -> str:
        """The verdict table ``optiscope run --seeds N`` prints."""
        return self.report.table()


RUNNER_COLUMNS = ("runner", "label", "measure", "mean", "low", "high", "n", "of", "text")
VERDICT_COLUMNS = (
    "measure",
    "a",
    "b",
    "label_a",
    "label_b",
    "difference",
    "low",
    "high",
    "n",
    "winner",
    "text",
)


def _seed_frames(report: SeedReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """summary.json's ``runners`` and ``verdicts`` as DataFrames (NaN where an interval has no end;
    ``winner`` is the winning runner, or -1 where there is no clear difference)."""
    import math

    import pandas as pd

    def num(v: float) -> float:
        return float(v) if math.isfinite(v) else math.nan

    runners = pd.DataFrame(
        [
            (
                s.runner,
                s.label,
                m.name,
                num(s.intervals[m.name].mean),
                num(s.intervals[m.name].low),
                num(s.intervals[m.name].high),
                s.intervals[m.name].n,
                len(s.runs),
                m.text(s.intervals[m.name]),
            )
            for s in report.runners
            for m in report.measures
        ],
        columns=list(RUNNER_COLUMNS),
    )
    labels = report.plan.labels
    verdicts = pd.DataFrame(
        [
            (
                v.measure,
                v.a,
                v.b,
                labels[v.a],
                labels[v.b],
                num(v.diff.mean),
                num(v.diff.low),
                num(v.diff.high),
                v.diff.n,
                -1 if v.winner is None else v.winner,
                v.text,
            )
            for v in report.verdicts
        ],
        columns=list(VERDICT_COLUMNS),
    )
    return runners, verdicts


def _frames(results: Sequence[RunResult], cells: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd
    from optiscope.engine.formats import LAYER_COLUMNS, METRIC_COLUMNS, STEP_COLUMNS
    from optiscope.engine.runner import layers_csv, metric_rows, step_rows

    metrics = pd.DataFrame(metric_rows(results, cells), columns=list(METRIC_COLUMNS))
    steps = pd.DataFrame(step_rows(results, cells), columns=list(STEP_COLUMNS))
    layers = _frame(layers_csv(results, cells))
    layers.columns = list(LAYER_COLUMNS)
    return metrics, steps, layers


def _frame(text: str) -> pd.DataFrame:
    """A CSV text as a DataFrame, numbers read with Python's ``int``/``float`` (exact round trips
    of the ``repr`` the result files hold, whatever pandas' own parser does)."""
    import csv

    import pandas as pd

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return pd.DataFrame()
    header, body = rows[0], rows[1:]
    columns: dict[str, list] = {}
    for j, name in enumerate(header):
        cells = [row[j] if j < len(row) else "" for row in body]
        for kind in (int, float):
            try:
                columns[name] = [kind(c) for c in cells]
                break
            except ValueError:
                continue
        else:
            columns[name] = cells
    return pd.DataFrame(columns, columns=header)


def run(
    exp: ExperimentConfig | str | Path,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    seeds: int | None = None,
    data: str | Path | None = None,
    target: str | None = None,
    drop_missing: bool = False,
    progress: bool = True,
    show: bool = False,
) -> Result:
    """Train every run of ``exp`` as ``optiscope run`` does (races batched) and return the results.

    ``epochs``, ``seed``, ``seeds`` and ``data``/``target``/``drop_missing`` are the CLI's
    overrides: ``seeds=N`` trains every runner with N seeds (seed, seed+1, ...; run ``r`` is runner
    ``r // N``), and the result's ``runners`` and ``verdicts`` say what they show together.
    ``progress`` shows a tqdm bar (``tqdm.auto``: a widget in Jupyter, text elsewhere).
    ``show`` opens the window and draws the runs live as they train (see :func:`show`; the
    window is ``result.window``); :class:`DisplayError` before training where there is no display.
    """
    from optiscope.engine import events as ev
    from optiscope.engine.runner import execute, seed_cells, summary_of
    from optiscope.engine.seed_report import seed_report
    from optiscope.engine.seeds import SeedPlan
    from tqdm.auto import tqdm

    experiment = _overridden(exp, epochs, seed, data, target, drop_missing, seeds)
    plan = SeedPlan.of(experiment)
    runs = plan.runs
    viewer = _viewer(experiment, runs) if show else None
    for dataset in {r.dataset for r in runs if r.dataset.name == "csv"}:  # bad files fail here, as in the CLI
        from optiscope.engine.tabular import load_csv_dataset

        load_csv_dataset(dataset)
    bus = ev.EventBus()
    bar = tqdm(
        total=sum(r.training.epochs for r in runs), unit="epoch", desc=experiment.name, disable=not progress
    )

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.EpochEnd):
            bar.update(1)
            bar.set_postfix(run=e.run, val_acc=f"{e.val_acc:.3f}", refresh=False)
        elif isinstance(e, ev.Finished):
            bar.update(max(runs[e.run].training.epochs - e.epochs, 0))

    bus.subscribe(on_event, ev.EpochEnd, ev.Finished)
    events: list[ev.Event] = []
    bus.subscribe(events.append)
    if viewer is not None:
        bus.subscribe(viewer)
    try:
        with _one_thread():
            results = execute(runs, bus=bus, keep_models=True, log=lambda _msg: None)
    finally:
        bar.close()
    report = seed_report(experiment, runs, results, plan=plan)
    metrics, steps, layers = _frames(results, seed_cells(plan, results))
    summary = json.loads(json.dumps(summary_of(experiment, runs, results, report)))
    runners, verdicts = _seed_frames(report)
    result = Result(
        experiment, runs, results, metrics, steps, layers, summary, runners, verdicts, report, events
    )
    if viewer is not None:
        result.window = viewer.finish(results)
        _keep_open(result.window, block=None)
    return result


# --------------------------------------------------------------------------- the window
class DisplayError(RuntimeError):
    """:func:`show` (or ``run(..., show=True)``) where no window can be shown; the message says why."""


_SHOWN: list[Any] = []  # the windows opened from the API, alive until closed


def _display_problem() -> str:
    """Why no window can be shown here, or "" (checked before Qt, which aborts the process
    when it finds no display)."""
    try:
        from optiscope.gui.app import no_display_reason
    except ImportError as exc:  # pragma: no cover - PySide6 is a dependency
        return f"optiscope.show needs the window's packages (PySide6, pyqtgraph): {exc}"
    reason = no_display_reason(
        advice="Use the result's DataFrames (result.metrics) here, or result.save(folder) and "
        "open it where there is a screen; QT_QPA_PLATFORM=offscreen builds the window without showing it."
    )
    return f"optiscope.show needs a display: {reason}" if reason else ""


def _viewer(experiment: ExperimentConfig, runs: Sequence[RunConfig]) -> Any:
    problem = _display_problem()
    if problem:
        raise DisplayError(problem)
    _in_ipython_gui()
    from optiscope.gui.notebook import Viewer

    return Viewer(experiment, runs)


def _in_ipython_gui() -> bool:
    """In IPython or Jupyter: its Qt event loop integration on (as ``%gui qt``); True there."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    try:
        shell.enable_gui("qt")
    except Exception:  # noqa: BLE001 - without it the window still opens; it redraws on each cell
        pass
    return True


def _keep_open(window: Any, block: bool | None) -> None:
    """Keep ``window`` alive while it is open; ``block`` (None: in a plain script, with a real
    display) runs Qt's event loop until it is closed."""
    import os

    _SHOWN[:] = [w for w in _SHOWN if _visible(w)]
    _SHOWN.append(window)
    if block is None:
        offscreen = os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal"))
        block = not offscreen and not _in_ipython_gui()
    if block:
        from optiscope.gui.notebook import run_until_closed

        run_until_closed()


def _visible(window: Any) -> bool:
    try:
        return bool(window.isVisible())
    except RuntimeError:  # its C++ side is gone
        return False


def show(result: Result, *, block: bool | None = None) -> Any:
    """Open the Optiscope window on ``result``'s runs (from :func:`run`) and return it.

    The plots, the Inside tab and the status bar show the runs as if they had trained in the
    window, and File → Save weights / Save run bundle work on them. In Jupyter or IPython the
    window opens beside the notebook (Qt's event loop integration is turned on, as ``%gui qt``)
    and ``show`` returns at once; in a plain script it returns when the window is closed
    (``block=False``: at once). ``optiscope.run(exp, show=True)`` shows the runs live instead.

    Raises :class:`DisplayError` where there is no display (a server, SSH without X
    forwarding), before Qt is touched.
    """
    if not isinstance(result, Result):
        raise ConfigError(f"optiscope.show takes a result of optiscope.run(...), got {type(result).__name__}")
    viewer = _viewer(result.experiment, result.runs)
    window = viewer.finish(result.results, result.events)
    _keep_open(window, block)
    return window


# --------------------------------------------------------------------------- lr-find, search, surface
@dataclass
class LRFind:
    """A range test: ``curve`` (iteration, lr, loss, smoothed_loss) and the suggested rates."""

    curve: pd.DataFrame = field(repr=False)
    suggestions: dict[str, float | None]
    stopped_early: bool


def lr_find(
    exp: ExperimentConfig | str | Path,
    *,
    run: int = 0,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    iterations: int = 100,
    mode: str = "exp",
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    epochs: int | None = None,
    seed: int | None = None,
) -> LRFind:
    """The learning-rate range test of run ``run`` (``optiscope lr-find``), same checks and numbers."""
    with tempfile.TemporaryDirectory(prefix="optiscope-api-") as tmp:
        _cli(
            "lr-find",
            exp,
            tmp,
            epochs=epochs,
            seed=seed,
            run=run,
            start_lr=start_lr,
            end_lr=end_lr,
            iterations=iterations,
            mode=mode,
            beta=beta,
            diverge_factor=diverge_factor,
        )
        curve = _frame((Path(tmp) / "lr_find.csv").read_text(encoding="utf-8"))
        doc = json.loads((Path(tmp) / "suggestions.json").read_text())
    return LRFind(curve, doc.get("suggestions", doc), bool(doc.get("stopped_early", False)))


@dataclass
class Search:
    """A hyperparameter search: ``trials`` (trials.csv), the ``best`` experiment and the importances."""

    trials: pd.DataFrame = field(repr=False)
    best: ExperimentConfig | None
    importance: dict


def search(
    exp: ExperimentConfig | str | Path,
    *,
    trials: int | None = None,
    sampler: str | None = None,
    objective: str | None = None,
    storage: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    seeds: int | None = None,
) -> Search:
    """A hyperparameter search over the experiment's ``[search]`` space (``optiscope search``);
    ``seeds`` trains each trial that many times (Optuna sees the mean; ``trials`` has a
    ``value_seed<k>`` column per seed)."""
    with tempfile.TemporaryDirectory(prefix="optiscope-api-") as tmp:
        _cli(
            "search",
            exp,
            tmp,
            epochs=epochs,
            seed=seed,
            trials=trials,
            sampler=sampler,
            objective=objective,
            storage=storage,
            seeds=seeds,
            quiet=True,
        )
        folder = Path(tmp)
        table = _frame((folder / "trials.csv").read_text(encoding="utf-8"))
        best = load_toml(folder / "best.toml") if (folder / "best.toml").exists() else None
        importance = json.loads((folder / "importance.json").read_text())
    return Search(table, best, importance)


@dataclass
class Surface:
    """A loss surface (``optiscope surface``): the arrays of surface.npz and the runs' paths."""

    arrays: dict[str, Any] = field(repr=False)
    trajectory: pd.DataFrame = field(repr=False)


def surface(
    exp: ExperimentConfig | str | Path,
    *,
    grid: int = 51,
    epochs: int | None = None,
    seed: int | None = None,
    **options: Any,
) -> Surface:
    """The loss surface around the trained runs (``optiscope surface``; ``options`` are its flags,
    e.g. ``plane="random"``)."""
    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="optiscope-api-") as tmp:
        _cli("surface", exp, tmp, epochs=epochs, seed=seed, grid=grid, quiet=True, **options)
        with np.load(Path(tmp) / "surface.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        path = Path(tmp) / "trajectory.csv"
        trajectory = _frame(path.read_text(encoding="utf-8")) if path.exists() else pd.DataFrame()
    return Surface(arrays, trajectory)


def _cli(command: str, exp: ExperimentConfig | str | Path, out: str, **options: Any) -> None:
    """Run an ``optiscope`` command on ``exp`` with ``options`` as its flags (errors raised, not printed)."""
    from optiscope.engine.cli import build_parser
    from optiscope.engine.cli.common import UsageError
    from optiscope.engine.config import dump_toml

    experiment = _experiment(exp)
    with tempfile.TemporaryDirectory(prefix="optiscope-api-") as tmp:
        toml = Path(tmp) / "experiment.toml"
        dump_toml(experiment, toml)
        argv = [command, str(toml), "--out", out]
        for key, value in options.items():
            if value is None or value is False:
                continue
            flag = "--" + key.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            raise ConfigError(f"optiscope.{command.replace('-', '_')}: invalid options {options}") from None
        try:
            with _one_thread(), contextlib.redirect_stderr(io.StringIO()):  # errors are raised, not printed
                args.func(args)
        except UsageError as exc:
            raise ConfigError(str(exc)) from None


def export_script(
    exp: ExperimentConfig | str | Path,
    path: str | Path,
    *,
    run: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
) -> Path:
    """Write the standalone PyTorch script of ``exp`` (all runs, or ``run``) to ``path``
    (``optiscope export-script``)."""
    from optiscope.engine.export_script import NotExportable
    from optiscope.engine.export_script import export_script as make
    from optiscope.engine.files import atomic_write_text

    experiment = _overridden(exp, epochs, seed, None, None, False)
    indices = [run] if run is not None else list(range(len(experiment.runs())))
    if run is not None and not 0 <= run < len(experiment.runs()):
        raise ConfigError(
            f"run {run} is out of range: this experiment has runs 0-{len(experiment.runs()) - 1}"
        )
    try:
        text = make(experiment, indices, source="optiscope.export_script")
    except NotExportable as exc:
        raise ConfigError(f"cannot export: {exc}") from None
    atomic_write_text(path, text)
    return Path(path)

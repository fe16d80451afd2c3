"""Live-plot benchmark (not a test): the GUI-thread cost of drawing a sweep as it trains.

Workload (``--preset``): the reading list's learning-rate sweep ``lr-sweep`` (8 runs of the
blobs MLP, 200 epochs x 16 updates = 3200 steps each, trained together by the batched
engine: every batch carries all 8 runs) or the studies' single run ``blobs-sgd``; decision
boundary every 10 epochs. Recorded once with ``runner.execute``, then replayed in batches
of ``--batch`` events (200 ~ what the worker delivers per frame at 30 frames/s).

For each batch the *frame cost* is timed: ``add_events`` plus the repaint it causes
(``processEvents``), as CPU time of the GUI thread and as wall time. Contenders, in this
process on the same events and window size:

- ``LivePlots`` in overlay and in grid mode;
- a naive pyqtgraph peer: the same four plots and curves (LR, raw + smoothed + validation
  loss, train + validation accuracy, boundary image), one ``PlotDataItem`` per curve fed
  the whole history with ``setData`` every batch, with pyqtgraph's defaults (no
  downsampling, no clip-to-view, no caching, autorange on).

Bar (issue 4 / CONVENTIONS rule 6): p99 frame cost <= 30 ms, the event-loop stall budget.

    .venv/bin/python bench/bench_plots.py [--batch 200] [--size 1600x950] [--epochs 200]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from optiscope.engine import events as ev  # noqa: E402
from optiscope.gui.plots import LivePlots  # noqa: E402
from optiscope.gui.smoothing import DebiasedEMA  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

BAR_MS = 30.0


def record(preset: str, epochs: int) -> list[ev.Event]:
    import torch
    from optiscope.engine.presets import get_preset
    from optiscope.engine.runner import execute

    torch.set_num_threads(1)
    exp = get_preset(preset)
    runs = [
        r.model_copy(update={"training": r.training.model_copy(update={"epochs": epochs})})
        for r in exp.runs()
    ]
    events: list[ev.Event] = []
    bus = ev.EventBus()
    bus.subscribe(events.append)
    execute(runs, bus=bus, boundary_every=10)
    # one update per event, so a replayed batch of --batch events holds as many updates as
    # before the engine sent its updates in blocks (Steps)
    return [
        part
        for e in events
        for part in ([e.take(slice(i, i + 1)) for i in range(len(e))] if isinstance(e, ev.Steps) else [e])
    ]


class NaivePlots(QtWidgets.QWidget):
    """The peer: the same curves, whole arrays re-set every batch, pyqtgraph defaults."""

    def __init__(self) -> None:
        super().__init__()
        layout = QtWidgets.QGridLayout(self)
        self.w = {name: pg.PlotWidget(title=name) for name in ("lr", "loss", "accuracy", "boundary")}
        for i, w in enumerate(self.w.values()):
            layout.addWidget(w, i // 2, i % 2)
        self.w["lr"].getPlotItem().setLogMode(y=True)
        self.image = pg.ImageItem()
        self.w["boundary"].addItem(self.image)
        self.data: dict[int, dict[str, list]] = {}
        self.items: dict[int, dict[str, pg.PlotDataItem]] = {}
        self.ema: dict[int, DebiasedEMA] = {}

    def add_events(self, events: list[ev.Event]) -> None:
        dirty = set()
        for e in events:
            if isinstance(e, ev.RunStarted):
                color = pg.intColor(e.run, 10)
                self.data[e.run] = {
                    k: [] for k in ("step", "lr", "loss", "smooth", "epoch", "estep", "vl", "ta", "va")
                }
                self.ema[e.run] = DebiasedEMA(0.6)
                self.items[e.run] = {
                    "lr": self.w["lr"].plot(pen=color),
                    "raw": self.w["loss"].plot(pen=(*color.getRgb()[:3], 70)),
                    "smooth": self.w["loss"].plot(pen=pg.mkPen(color, width=2)),
                    "vl": self.w["loss"].plot(
                        pen=pg.mkPen(color, width=2, style=QtCore.Qt.PenStyle.DashLine)
                    ),
                    "ta": self.w["accuracy"].plot(pen=pg.mkPen(color, width=2)),
                    "va": self.w["accuracy"].plot(
                        pen=pg.mkPen(color, width=2, style=QtCore.Qt.PenStyle.DashLine)
                    ),
                }
            elif isinstance(e, ev.Steps):
                d = self.data[e.run]
                d["step"].extend(e.step.tolist())
                d["lr"].extend(e.lr.tolist())
                d["loss"].extend(e.loss.tolist())
                d["smooth"].extend(self.ema[e.run].update(e.loss).tolist())
                dirty.add(e.run)
            elif isinstance(e, ev.EpochEnd):
                d = self.data[e.run]
                d["epoch"].append(e.epoch)
                d["estep"].append(e.step)
                d["vl"].append(e.val_loss)
                d["ta"].append(e.train_acc)
                d["va"].append(e.val_acc)
            elif isinstance(e, ev.Boundary):
                self.image.setImage(np.asarray(e.probs)[..., :3].transpose(1, 0, 2) * 255)
        for rid in dirty:
            d, it = self.data[rid], self.items[rid]
            it["lr"].setData(d["step"], d["lr"])
            it["raw"].setData(d["step"], d["loss"])
            it["smooth"].setData(d["step"], d["smooth"])
            it["vl"].setData(d["estep"], d["vl"])
            it["ta"].setData(d["epoch"], d["ta"])
            it["va"].setData(d["epoch"], d["va"])


def replay(widget: QtWidgets.QWidget, events: list[ev.Event], batch: int, size: tuple[int, int]) -> dict:
    app = QtWidgets.QApplication.instance()
    widget.resize(*size)
    widget.show()
    app.processEvents()
    cpu, wall = [], []
    for i in range(0, len(events), batch):
        c0, w0 = time.thread_time(), time.perf_counter()
        widget.add_events(events[i : i + batch])
        app.processEvents()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    widget.close()
    cpu_ms, wall_ms = np.array(cpu) * 1e3, np.array(wall) * 1e3
    return {
        "frames": len(cpu),
        "first": cpu_ms[0],
        "steady_p99": np.percentile(cpu_ms[5:], 99) if len(cpu_ms) > 5 else np.nan,
        "cpu_p50": np.median(cpu_ms),
        "cpu_p99": np.percentile(cpu_ms, 99),
        "cpu_max": cpu_ms.max(),
        "wall_p50": np.median(wall_ms),
        "wall_p99": np.percentile(wall_ms, 99),
        "total_cpu_s": cpu_ms.sum() / 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=200, help="events per add_events call")
    parser.add_argument("--size", default="1600x950", help="widget size, WxH")
    parser.add_argument("--epochs", type=int, default=200, help="epochs per run")
    parser.add_argument(
        "--preset",
        default="lr-sweep",
        help="workload: lr-sweep (8 runs at once) or blobs-sgd (the studies' single run)",
    )
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    app = QtWidgets.QApplication([])  # noqa: F841 (kept alive)
    t = time.perf_counter()
    events = record(args.preset, args.epochs)
    n_steps = sum(len(e) for e in events if isinstance(e, ev.Steps))
    print(
        f"{args.preset}: {n_steps} steps in {len(events)} events, recorded in {time.perf_counter() - t:.1f} s; "
        f"batches of {args.batch}, {size[0]}x{size[1]}"
    )
    results = {}
    for name, make in (
        ("LivePlots overlay", lambda: LivePlots()),
        ("LivePlots grid", lambda: _grid(LivePlots())),
        ("naive pyqtgraph", NaivePlots),
    ):
        r = results[name] = replay(make(), events, args.batch, size)
        print(
            f"  {name:18s} frame cost CPU p50 {r['cpu_p50']:6.1f} ms  p99 {r['cpu_p99']:6.1f} ms  "
            f"(first frame {r['first']:5.1f}, p99 after 5 frames {r['steady_p99']:5.1f})  "
            f"max {r['cpu_max']:6.1f} ms | wall p50 {r['wall_p50']:6.1f} p99 {r['wall_p99']:6.1f} ms | "
            f"total CPU {r['total_cpu_s']:.2f} s over {r['frames']} frames"
        )
    peer = results["naive pyqtgraph"]
    for name in ("LivePlots overlay", "LivePlots grid"):
        r = results[name]
        verdict = "PASS" if r["cpu_p99"] <= BAR_MS else "FAIL"
        print(
            f"{name}: p99 frame {r['cpu_p99']:.1f} ms (bar <= {BAR_MS:.0f} ms) {verdict}; "
            f"total GUI CPU {peer['total_cpu_s'] / r['total_cpu_s']:.1f}x less than the naive peer"
        )


def _grid(plots: LivePlots) -> LivePlots:
    plots.set_mode("grid")
    return plots


if __name__ == "__main__":
    main()

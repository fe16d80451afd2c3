"""GUI benchmarks (not a test): launch time, training speed with live plots, event-loop
stalls and Stop latency. Prints each figure with its bar and PASS/FAIL.

    .venv/bin/python bench/bench_gui.py            # offscreen unless a display is set
    .venv/bin/python bench/bench_gui.py --epochs 100 --launches 5

(1) launch: a fresh ``optiscope-app`` process, from spawn to the window first exposed
    (the app prints ``OPTISCOPE_SHOWN <time>`` with OPTISCOPE_LAUNCH_TIMING=1); bar <= 1.0 s.
(2) speed: updates per second of the studies' blobs run (make_blobs 1000/3/std 2, 500
    train, Dense(50) -> 3, SGD 0.01, batch 32) trained with the window live and plotting,
    against the same run headless (``runner.execute``, no subscribers) in this process;
    both timed by the engine (Finished.seconds); bar >= 0.8x.
(3) stall: a 5 ms QTimer probe on the GUI thread during (2); the gaps between its ticks;
    bar p99 <= 30 ms.
(4) stop: Stop pressed during a run until the window's run_finished; bar <= 100 ms.
(5) search: the same 5 ms probe during a hyperparameter search from the window (Tools ->
    Hyperparameter search: 32 random trials of the studies' run, lr and momentum, in rounds
    of 8 trained batched, the views redrawn after each trial's report); bar p99 <= 30 ms.
(6) lesson start: ``optiscope-app --lesson momentum-sweep --presentation`` in a fresh process
    under Xvfb (``xvfb-run``, 1280x720, when no display is set), from the window first exposed
    to the lesson's first steps drawn (``OPTISCOPE_LESSON_RUNNING``); bar <= 2.0 s.
    ``--only-lesson`` measures this figure alone.
(7) seeds: the same 5 ms probe while the window trains and draws an lr sweep of 8 runners x
    16 seeds (128 runs, the studies' run, 8 rates 1 ... 3e-4, ``--seed-epochs`` epochs):
    128 live runs drawn as 8 means with 95 % bands on every plot; bar p99 <= 30 ms.
    ``--only-seeds`` measures this figure alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_launch(n: int, settings_dir: Path) -> tuple[list[float], float]:
    """Seconds from spawning the app to its window being exposed, ``n`` fresh processes,
    and the CPU seconds one whole launch (to shown, then closing) used, for a load-free view."""
    import resource

    exe = shutil.which("optiscope-app", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "from optiscope.gui.app import main; main()"]
    env = dict(
        os.environ,
        OPTISCOPE_LAUNCH_TIMING="1",
        OPTISCOPE_EXIT_AFTER_SHOW="1",
        OPTISCOPE_SETTINGS=str(settings_dir / "launch.ini"),
    )
    times = []
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        t0 = time.time()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        shown = [ln for ln in out.stdout.splitlines() if ln.startswith("OPTISCOPE_SHOWN ")]
        if not shown:
            raise RuntimeError(
                f"the app did not report its window: rc={out.returncode}\n{out.stderr[-2000:]}"
            )
        times.append(float(shown[0].split()[1]) - t0)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / n
    return times, cpu


def bench_lesson_start(n: int, settings_dir: Path, lesson: str = "momentum-sweep") -> list[float]:
    """Seconds from the window exposed to the lesson's first steps reaching it, ``n`` fresh
    ``optiscope-app --lesson LESSON --presentation`` processes (under Xvfb without a display)."""
    exe = shutil.which("optiscope-app", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "from optiscope.gui.app import main; main()"]
    cmd += ["--lesson", lesson, "--presentation"]
    env = dict(os.environ, OPTISCOPE_LAUNCH_TIMING="1", OPTISCOPE_EXIT_AFTER_RUNNING="1")
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            raise RuntimeError("no display and no xvfb-run: apt-get install -y xvfb")
        cmd = [xvfb, "-a", "-s", "-screen 0 1280x720x24", *cmd]
        env.pop("QT_QPA_PLATFORM", None)
    times = []
    for i in range(n):
        env["OPTISCOPE_SETTINGS"] = str(settings_dir / f"lesson-{i}.ini")  # a first launch each time
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        marks = {}
        for line in out.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key in ("OPTISCOPE_SHOWN", "OPTISCOPE_LESSON_RUNNING"):
                marks[key] = float(value)
        if len(marks) < 2:
            raise RuntimeError(
                f"the lesson did not report running: rc={out.returncode}\n{out.stdout[-1000:]}{out.stderr[-2000:]}"
            )
        times.append(marks["OPTISCOPE_LESSON_RUNNING"] - marks["OPTISCOPE_SHOWN"])
    return times


def _print_lesson_start(n: int, settings_dir: Path) -> bool:
    times = bench_lesson_start(n, settings_dir)
    med = statistics.median(times)
    ok = med <= 2.0
    where = os.environ.get("DISPLAY") and "this display" or "Xvfb 1280x720"
    print(
        f"(6) lesson start (--lesson momentum-sweep --presentation, {where}): window shown to "
        f"lesson running, median {med:.3f} s (runs {', '.join(f'{t:.3f}' for t in times)}); "
        f"bar <= 2.0 s: {_verdict(ok)}",
        flush=True,
    )
    return ok


def studies_run(epochs: int):
    from optiscope.engine.config import SGD, DatasetConfig, ExperimentConfig, RunConfig, TrainingConfig

    return ExperimentConfig(
        name="bench",
        base=RunConfig(
            dataset=DatasetConfig(name="blobs"),
            optimizer=SGD(lr=0.01),
            training=TrainingConfig(epochs=epochs, batch_size=32, device="cpu"),
        ),
    )


SEED_RATES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)


def seeds_sweep(epochs: int, seeds: int = 16):
    """The studies' run swept over :data:`SEED_RATES`, every runner with ``seeds`` seeds."""
    from optiscope.engine.config import race_experiment

    base = studies_run(epochs).base
    runners = [
        base.model_copy(update={"optimizer": base.optimizer.model_copy(update={"lr": lr})})
        for lr in SEED_RATES
    ]
    return race_experiment(runners, name="bench seeds").model_copy(update={"seeds": seeds})


def probe_gaps(run: object, reps: int = 1) -> list[float]:
    """Sorted gaps (ms) between the ticks of a 5 ms GUI-thread timer while ``run()`` runs."""
    from PySide6 import QtCore

    gaps: list[float] = []
    for _ in range(reps):
        ticks: list[float] = []
        probe = QtCore.QTimer()
        probe.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        probe.setInterval(5)
        probe.timeout.connect(lambda t=ticks: t.append(time.perf_counter()))
        probe.start()
        run()  # type: ignore[operator]
        probe.stop()
        gaps += [(b - a) * 1000 for a, b in zip(ticks, ticks[1:], strict=False)]
    return sorted(gaps)


def _p99(gaps: list[float]) -> float:
    """The 99th percentile gap (inf when the probe never ticked twice: one stall throughout)."""
    return gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)] if gaps else float("inf")


def _max(gaps: list[float]) -> float:
    return gaps[-1] if gaps else float("inf")


def _print_seeds(win: object, run_to_end: object, epochs: int) -> bool:
    # a warm-up (first plots, dataset cache, the t quantile's module), then the peer, in the
    # same process and load: the same 8 runners with one seed each
    win.set_experiment(seeds_sweep(1, seeds=2))  # type: ignore[attr-defined]
    run_to_end()  # type: ignore[operator]
    win.set_experiment(seeds_sweep(epochs, seeds=1))  # type: ignore[attr-defined]
    peer = probe_gaps(run_to_end)
    win.set_experiment(seeds_sweep(epochs))  # type: ignore[attr-defined]
    gaps = probe_gaps(run_to_end)
    plots = win.plots  # type: ignore[attr-defined]
    runs, bands = (
        len(plots.frame.runs),
        sum(
            1
            for r in plots.frame.runs.values()
            for p in plots.frame.parts.values()
            for k in p.items(r)
            if k.startswith("fill:")
        ),
    )
    p99 = _p99(gaps)
    ok = p99 <= 30.0 and runs == 128
    print(
        f"(7) GUI event-loop gaps while training + drawing 8 runners x 16 seeds ({runs} live runs, "
        f"{bands} bands, {epochs} epochs): p99 {p99:.1f} ms, max {_max(gaps):.1f} ms, median "
        f"{statistics.median(gaps or [float('inf')]):.1f} ms over {len(gaps)} ticks of a 5 ms probe; "
        f"bar p99 <= 30 ms: {_verdict(ok)}",
        flush=True,
    )
    print(
        f"    peer, same process: the 8 runners with 1 seed each: p99 {_p99(peer):.1f} ms, max {_max(peer):.1f} ms "
        f"over {len(peer)} ticks",
        flush=True,
    )
    print(f"    machine load average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    return ok


def bench_headless(epochs: int) -> float:
    """Updates per second of the studies' run, headless, in this process."""
    import torch
    from optiscope.engine import runner

    torch.set_num_threads(1)
    res = runner.execute(studies_run(epochs).runs())[0]
    return len(res.step_loss) / res.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=200, help="epochs of the studies' run (default 200)")
    ap.add_argument("--launches", type=int, default=3, help="fresh processes for the launch figure")
    ap.add_argument("--stops", type=int, default=5, help="Stop presses for the latency figure")
    ap.add_argument("--reps", type=int, default=3, help="headless/windowed run pairs for (2) and (3)")
    ap.add_argument("--only-lesson", action="store_true", help="measure only (6), the lesson start")
    ap.add_argument("--only-seeds", action="store_true", help="measure only (7), 8 runners x 16 seeds")
    ap.add_argument("--seed-epochs", type=int, default=50, help="epochs of each run in (7) (default 50)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="optiscope-bench-"))
    if args.only_lesson:
        return 0 if _print_lesson_start(args.launches, tmp) else 1
    ok_all = True

    if args.only_seeds:
        launch, cpu = [], 0.0
    else:
        launch, cpu = bench_launch(args.launches, tmp)
    if launch:
        med = statistics.median(launch)
        ok = med <= 1.0
        ok_all &= ok
        print(
            f"(1) launch to window shown: median {med:.3f} s (min {min(launch):.3f}, runs "
            f"{', '.join(f'{t:.3f}' for t in launch)}; CPU {cpu:.3f} s per whole launch); bar <= 1.0 s: "
            f"{_verdict(ok)}",
            flush=True,
        )
        print(f"    machine load average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)

    os.environ["OPTISCOPE_SETTINGS"] = str(tmp / "bench.ini")
    from optiscope.engine import events as ev
    from optiscope.gui.app import create_app
    from optiscope.gui.main_window import MainWindow
    from PySide6 import QtCore

    app = create_app()
    win = MainWindow(restore_last=False)
    win.resize(1280, 720)
    win.show()
    win.start()
    loop = QtCore.QEventLoop()

    def wait_until(pred, timeout: float = 600.0) -> None:
        t_end = time.perf_counter() + timeout
        timer = QtCore.QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda: (pred() or time.perf_counter() > t_end) and loop.quit())
        timer.start()
        loop.exec()
        timer.stop()
        if not pred():
            raise TimeoutError("the window did not get there in time")

    wait_until(lambda: win.engine_loaded)

    def run_to_end() -> None:
        """Run the window's experiment; the event loop waits on run_finished (no polling)."""
        waiter = QtCore.QEventLoop()
        conn = win.run_finished.connect(lambda *_: waiter.quit())
        win.run()
        waiter.exec()
        win.run_finished.disconnect(conn)

    if args.only_seeds:
        ok = _print_seeds(win, run_to_end, args.seed_epochs)
        win.close()
        app.processEvents()
        return 0 if ok else 1

    # (2): the same run headless and with the window live and plotting, alternated --reps
    # times (the machine is shared: the best of each is compared); nothing else runs on the
    # GUI thread meanwhile
    finished: list[ev.Finished] = []
    win.events_received.connect(lambda evs: finished.extend(e for e in evs if isinstance(e, ev.Finished)))
    win.set_experiment(studies_run(args.epochs))
    headless_rates, gui_rates, gui_cpu = [], [], []
    for _ in range(args.reps):
        headless_rates.append(bench_headless(args.epochs))
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        run_to_end()
        gui_cpu.append((time.thread_time() - cpu0) / (time.perf_counter() - wall0))
        fin = finished[-1]
        gui_rates.append(fin.steps / fin.seconds)
    headless, gui_rate = max(headless_rates), max(gui_rates)
    ratio = gui_rate / headless
    ok = ratio >= 0.8
    ok_all &= ok
    print(
        f"(2) updates/s, studies' blobs run ({fin.steps} updates), best of {args.reps}: window live "
        f"{gui_rate:,.0f} vs headless {headless:,.0f} = {ratio:.2f}x (all: live "
        f"{', '.join(f'{r:,.0f}' for r in gui_rates)}; headless {', '.join(f'{r:,.0f}' for r in headless_rates)}); "
        f"bar >= 0.8x: {_verdict(ok)}",
        flush=True,
    )
    print(
        f"    GUI thread CPU during the windowed runs: {', '.join(f'{c:.0%}' for c in gui_cpu)} of wall time "
        "(drawing competes with training for the GIL)",
        flush=True,
    )

    # (3): a 5 ms probe timer on the GUI thread during more windowed runs; its tick gaps
    gaps: list[float] = []
    for _ in range(args.reps):
        ticks: list[float] = []
        probe = QtCore.QTimer()
        probe.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        probe.setInterval(5)
        probe.timeout.connect(lambda t=ticks: t.append(time.perf_counter()))
        probe.start()
        run_to_end()
        probe.stop()
        gaps += [(b - a) * 1000 for a, b in zip(ticks, ticks[1:], strict=False)]
    gaps.sort()
    p99 = gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)] if gaps else float("nan")
    ok = p99 <= 30.0
    ok_all &= ok
    print(
        f"(3) GUI event-loop gaps while training + plotting: p99 {p99:.1f} ms, max {gaps[-1]:.1f} ms, "
        f"median {statistics.median(gaps):.1f} ms over {len(gaps)} ticks of a 5 ms probe; bar p99 <= 30 ms: "
        f"{_verdict(ok)}",
        flush=True,
    )

    # (4) Stop latency
    latencies = []
    finished_at: list[float] = []
    win.run_finished.connect(lambda *_: finished_at.append(time.perf_counter()))
    win.set_experiment(studies_run(100_000))
    for _ in range(args.stops):
        finished_at.clear()
        win.run()
        start_steps = win.runs.total_steps_seen
        wait_until(lambda s=start_steps: win.runs.total_steps_seen > s + 200)
        t0 = time.perf_counter()
        win.transport.stop()
        wait_until(lambda: bool(finished_at))
        latencies.append((finished_at[-1] - t0) * 1000)
    med = statistics.median(latencies)
    ok = max(latencies) <= 100.0
    ok_all &= ok
    print(
        f"(4) Stop to finished: median {med:.1f} ms, max {max(latencies):.1f} ms over {len(latencies)} stops; "
        f"bar <= 100 ms: {_verdict(ok)}",
        flush=True,
    )
    # (5) the probe during a search from the window
    from optiscope.gui.search_view import JOB_KEY

    win.set_experiment(studies_run(args.epochs))
    dialog = win.tools.open("search")
    dialog.set_param("optimizer.lr", 1e-4, 1.0, log=True)
    dialog.set_param("optimizer.momentum", 0.0, 0.99, log=False)
    dialog.trials_box.setValue(32)
    dialog.storage_edit.setText(f"sqlite:///{tmp / 'bench-studies.sqlite3'}")  # not the user's studies
    ticks = []
    probe = QtCore.QTimer()
    probe.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    probe.setInterval(5)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    probe.start()
    t0 = time.perf_counter()
    if not dialog.start():
        raise RuntimeError(f"the search did not start: {dialog.summary.text()}")
    wait_until(lambda: not win.jobs.busy(JOB_KEY))
    seconds = time.perf_counter() - t0
    probe.stop()
    gaps = sorted((b - a) * 1000 for a, b in zip(ticks, ticks[1:], strict=False))
    p99 = gaps[min(int(len(gaps) * 0.99), len(gaps) - 1)] if gaps else float("nan")
    ok = p99 <= 30.0 and len(dialog.trials) == 32
    ok_all &= ok
    print(
        f"(5) GUI event-loop gaps during a 32-trial search in the window ({seconds:.1f} s, "
        f"{len(dialog.trials)} trials): p99 {p99:.1f} ms, max {gaps[-1]:.1f} ms, median "
        f"{statistics.median(gaps):.1f} ms over {len(gaps)} ticks; bar p99 <= 30 ms: {_verdict(ok)}",
        flush=True,
    )
    dialog.close()
    ok_all &= _print_seeds(win, run_to_end, args.seed_epochs)
    win.close()
    app.processEvents()
    ok_all &= _print_lesson_start(args.launches, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    print("ALL PASS" if ok_all else "SOME FAIL (this machine is shared; numbers are noisy)")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())

"""Recordings for slides: the live plots drawn frame by frame into an animated GIF or MP4.

:func:`record_experiment` trains an experiment headless (``runner.execute``), then replays
its events into an offscreen :class:`~.plots.LivePlots` in presentation mode, grabbing a
frame every few epochs, and encodes them with Pillow (GIF) or imageio's ffmpeg plug-in (MP4).
:class:`FrameSink` is the encoder both this and the window's File → Record use.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtGui, QtWidgets

__all__ = ["RecordError", "FrameSink", "record_experiment", "frame_from_widget", "gif_too_large", "SUFFIXES"]

SUFFIXES = (".gif", ".mp4")


def mp4_unavailable_message() -> str:
    """Why an MP4 cannot be written here and what to do: the installers ship no ffmpeg."""
    import sys

    if getattr(sys, "frozen", False):
        return (
            "this installer records GIFs only (it ships no MP4 encoder): record to a .gif file, or "
            "install Optiscope from source with its 'video' extra for MP4"
        )
    return "MP4 needs imageio and its ffmpeg plug-in: pip install imageio imageio-ffmpeg (or record a .gif)"


class RecordError(ValueError):
    """A recording could not be made (bad file name, missing encoder): the message says why."""


def frame_from_widget(widget: QtWidgets.QWidget, size: tuple[int, int]) -> Any:
    """``widget`` rendered now, as an RGB ``PIL.Image`` of exactly ``size`` pixels."""
    from PIL import Image

    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    if (image.width(), image.height()) != size:
        image = image.scaled(*size)
    data = bytes(image.constBits())
    return Image.frombuffer("RGB", size, data, "raw", "RGB", image.bytesPerLine(), 1).copy()


#: Bytes of palette frames a GIF may hold in memory (Pillow's GIF writer keeps every frame
#: until it writes the file; an MP4 streams each frame to the encoder and keeps none).
GIF_MEMORY_LIMIT = 2 * 1024**3


def gif_too_large(size: tuple[int, int], frames: int) -> str | None:
    """Why a GIF of ``frames`` frames of ``size`` would not fit in memory, or None."""
    need = size[0] * size[1] * frames
    if need <= GIF_MEMORY_LIMIT:
        return None
    fit = max(GIF_MEMORY_LIMIT // (size[0] * size[1]), 1)
    return (
        f"a GIF of up to {frames} frames at {size[0]}x{size[1]} needs {need / 1024**3:.1f} GiB of memory "
        f"(the limit is {GIF_MEMORY_LIMIT / 1024**3:.0f} GiB, about {fit} frames at this size): "
        "record a smaller --size, a lower --fps or fewer --seconds, or an .mp4 (streamed to the encoder)"
    )


class FrameSink:
    """Writes frames as ``path``: an MP4 streams each frame to the encoder (imageio's ffmpeg
    writer) as it comes; a GIF keeps palette frames (1 byte a pixel) until :meth:`write`,
    as Pillow's GIF writer needs them all. The file is written under a temporary name made
    exclusively (``mkstemp`` in the same folder) and renamed over ``path`` at the end."""

    def __init__(self, path: str | Path, fps: int) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in SUFFIXES:
            raise RecordError(
                f"{self.path}: record to a .gif or .mp4 file (got {self.path.suffix or 'no suffix'!r})"
            )
        if not 1 <= fps <= 60:
            raise RecordError(f"--fps must be between 1 and 60, got {fps}")
        self.mp4 = self.path.suffix.lower() == ".mp4"
        if self.mp4:
            try:
                import imageio.v2  # noqa: F401
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise RecordError(mp4_unavailable_message()) from None
        self.fps = fps
        self.frames: list[Any] = []  # GIF: palette frames
        self.count = 0
        self._tmp: Path | None = None
        self._writer: Any = None

    def _temporary(self) -> Path:
        if self._tmp is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent
            )
            os.close(fd)
            self._tmp = Path(name)
        return self._tmp

    def add(self, frame: Any) -> None:
        if not self.mp4:
            from PIL import Image

            if frame.mode != "P":
                frame = frame.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
            self.frames.append(frame)
        else:
            import numpy as np

            width, height = frame.size
            if width % 2 or height % 2:
                raise RecordError(
                    f"an MP4 (H.264) needs an even width and height, got {width}x{height}: "
                    f"use {width // 2 * 2}x{height // 2 * 2}, or record a .gif"
                )
            if self._writer is None:
                import imageio.v2 as iio2

                # macro_block_size=1: exactly the asked size (imageio pads to multiples of 16
                # by default, 270 -> 272); yuv420p, the pixel format slides and browsers play
                self._writer = iio2.get_writer(
                    self._temporary(),
                    format="FFMPEG",
                    mode="I",
                    fps=self.fps,
                    codec="libx264",
                    pixelformat="yuv420p",
                    macro_block_size=1,
                )
            self._writer.append_data(np.asarray(frame))
        self.count += 1

    def discard(self) -> None:
        """Drop what was recorded and the temporary file."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # pragma: no cover - the encoder already failed
                pass
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self.frames = []

    def write(self) -> Path:
        """Finish the file and rename it over :attr:`path` (atomically)."""
        if not self.count:
            self.discard()
            raise RecordError("nothing was recorded (no frames)")
        try:
            tmp = self._temporary()
            if self.mp4:
                self._writer.close()
                self._writer = None
            else:
                with open(tmp, "r+b") as fh:  # the exclusive temporary made above, not a new name
                    self.frames[0].save(
                        fh,
                        format="GIF",
                        save_all=True,
                        append_images=self.frames[1:],
                        duration=round(1000 / self.fps),
                        loop=0,
                        optimize=False,
                    )
                    fh.truncate()
                self.frames = []
            tmp.replace(self.path)
            self._tmp = None
        finally:
            self.discard()
        return self.path


def _frame_points(events: Sequence[Any], frames: int) -> list[int]:
    """Indices into ``events`` after which to grab a frame: about ``frames`` of them, spread
    evenly over the epochs (every run's epoch end counts), plus the very end."""
    from optiscope.engine import events as ev

    ends = [i for i, e in enumerate(events) if type(e) is ev.EpochEnd]
    if not ends:
        return [len(events) - 1]
    every = max(len(ends) / max(frames - 1, 1), 1.0)
    picks = sorted({ends[min(int(k * every), len(ends) - 1)] for k in range(frames - 1)})
    return [*picks, len(events) - 1]


def record_experiment(
    exp: Any,
    path: str | Path,
    *,
    size: tuple[int, int] = (1280, 720),
    fps: int = 10,
    seconds: float = 6.0,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, int]:
    """Train ``exp`` and record its plots drawing: about ``fps * seconds`` frames of ``size``.
    With several seeds per runner (``exp.seeds``) every seed is trained and each runner is
    drawn as its mean with a 95 % band, as in the window.

    Returns the file written and its number of frames.
    """
    from optiscope.engine import events as ev
    from optiscope.engine.runner import execute
    from optiscope.engine.seeds import SeedPlan
    from optiscope.engine.trainer import boundary_every

    from .plots import LivePlots
    from .qt_app import create_app

    sink = FrameSink(path, fps)
    if not sink.mp4:
        problem = gif_too_large(size, max(int(round(fps * seconds)), 2))
        if problem:
            raise RecordError(problem)
    plan = SeedPlan.of(exp)
    runs = plan.runs
    events: list[Any] = []
    bus = ev.EventBus()
    bus.subscribe(events.append, *(t for t in ev.EVENT_TYPES if t is not ev.Weights))
    if log:
        log(f"training {len(runs)} run{'s' if len(runs) > 1 else ''} of {exp.name}…")
    execute(
        runs, bus=bus, boundary_every=boundary_every(runs), boundary_runs=plan.leads
    )  # the leads' are drawn
    app = create_app()
    plots = LivePlots()
    plots.set_seed_plan(plan)
    plots.set_presentation(True)
    plots.resize(*size)
    plots.show()
    if any(r.dataset.is_2d for r in runs):
        from optiscope.engine.data import load_dataset

        data = load_dataset(runs[0].dataset)
        plots.set_points(data.x_train, data.y_train)
    points = _frame_points(events, max(int(round(fps * seconds)), 2))
    start = 0
    if log:
        log(f"drawing {len(points)} frames at {size[0]}x{size[1]}…")
    try:
        for end in points:
            plots.add_events(events[start : end + 1])
            plots.flush_bands()  # every runner's band in this frame
            start = end + 1
            app.processEvents()
            sink.add(frame_from_widget(plots, size))
    except BaseException:
        sink.discard()
        raise
    finally:
        plots.close()
        plots.deleteLater()
        app.processEvents()
    return sink.write(), sink.count

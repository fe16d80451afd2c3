"""Recordings for slides: the live plots drawn frame by frame into an animated GIF or MP4.

:func:`record_experiment` trains an experiment headless (``runner.execute``), then replays
its events into an offscreen :class:`~.plots.LivePlots` in presentation mode, grabbing a
frame every few epochs, and encodes them with Pillow (GIF) or imageio's ffmpeg plug-in (MP4).
:class:`FrameSink` is the encoder both this and the window's File → Record use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtGui, QtWidgets

__all__ = ["RecordError", "FrameSink", "record_experiment", "frame_from_widget", "SUFFIXES"]

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


class FrameSink:
    """Collects frames, then writes them as ``path`` (GIF via Pillow, MP4 via imageio)."""

    def __init__(self, path: str | Path, fps: int) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in SUFFIXES:
            raise RecordError(
                f"{self.path}: record to a .gif or .mp4 file (got {self.path.suffix or 'no suffix'!r})"
            )
        if not 1 <= fps <= 60:
            raise RecordError(f"--fps must be between 1 and 60, got {fps}")
        if self.path.suffix.lower() == ".mp4":
            try:
                import imageio.v2  # noqa: F401
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise RecordError(mp4_unavailable_message()) from None
        self.fps = fps
        self.frames: list[Any] = []

    def add(self, frame: Any) -> None:
        self.frames.append(frame)

    def write(self) -> Path:
        """Encode every frame to :attr:`path` atomically (a temporary file, then renamed)."""
        if not self.frames:
            raise RecordError("nothing was recorded (no frames)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.part{self.path.suffix}")
        try:
            if self.path.suffix.lower() == ".gif":
                from PIL import Image

                frames = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for f in self.frames]
                frames[0].save(
                    tmp,
                    format="GIF",
                    save_all=True,
                    append_images=frames[1:],
                    duration=round(1000 / self.fps),
                    loop=0,
                    optimize=False,
                )
            else:
                import imageio.v3 as iio
                import numpy as np

                width, height = self.frames[0].size
                if width % 2 or height % 2:
                    raise RecordError(
                        f"an MP4 (H.264) needs an even width and height, got {width}x{height}: "
                        f"use {width // 2 * 2}x{height // 2 * 2}, or record a .gif"
                    )
                # macro_block_size=1: exactly the asked size (imageio pads to multiples of 16
                # by default, 270 -> 272); yuv420p, the pixel format slides and browsers play
                iio.imwrite(
                    tmp,
                    np.stack([np.asarray(f) for f in self.frames]),
                    plugin="FFMPEG",
                    fps=self.fps,
                    codec="libx264",
                    pixelformat="yuv420p",
                    macro_block_size=1,
                )
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)
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

    Returns the file written and its number of frames.
    """
    from optiscope.engine import events as ev
    from optiscope.engine.runner import execute
    from optiscope.engine.trainer import boundary_every

    from .plots import LivePlots
    from .qt_app import create_app

    sink = FrameSink(path, fps)
    runs = exp.runs()
    events: list[Any] = []
    bus = ev.EventBus()
    bus.subscribe(events.append, *(t for t in ev.EVENT_TYPES if t is not ev.Weights))
    if log:
        log(f"training {len(runs)} run{'s' if len(runs) > 1 else ''} of {exp.name}…")
    execute(runs, bus=bus, boundary_every=boundary_every(runs))
    app = create_app()
    plots = LivePlots()
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
    for end in points:
        plots.add_events(events[start : end + 1])
        start = end + 1
        app.processEvents()
        sink.add(frame_from_widget(plots, size))
    plots.close()
    plots.deleteLater()
    app.processEvents()
    return sink.write(), len(sink.frames)

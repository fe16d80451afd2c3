"""File → Record in the window: the live plots grabbed as they draw, written as a GIF or MP4.

:class:`PlotRecorder` grabs the plots widget ``fps`` times a second (a QTimer) while
recording and hands the frames to :class:`~.recorder.FrameSink` (the encoder the headless
``optiscope record`` uses). Frames are kept as 8-bit palette images (one byte a pixel) and a
recording stops itself after :data:`MAX_SECONDS`, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from .recorder import FrameSink, RecordError, frame_from_widget

__all__ = ["PlotRecorder", "MAX_SECONDS", "FPS"]

FPS = 10
MAX_SECONDS = 90


class PlotRecorder(QtCore.QObject):
    """Records ``widget()`` (the plots, looked up at each frame) into a file.

    Parameters
    ----------
    widget
        Returns the widget to grab (None: nothing to record yet).
    report
        Called with a status line and whether it is an error.
    """

    def __init__(
        self,
        widget: Callable[[], QtWidgets.QWidget | None],
        report: Callable[[str, bool], None],
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._widget = widget
        self._report = report
        self._sink: FrameSink | None = None
        self._size: tuple[int, int] = (0, 0)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.grab)

    @property
    def recording(self) -> bool:
        return self._sink is not None

    @property
    def frame_size(self) -> tuple[int, int]:
        """Width and height of every frame: the plots' size when recording started (even)."""
        return self._size

    @property
    def frames(self) -> list[Any]:
        """The frames grabbed so far (PIL images; a GIF's only: an MP4 streams them to the encoder)."""
        return self._sink.frames if self._sink is not None else []

    def start(self, path: str | Path, fps: int = FPS) -> bool:
        """Start recording to ``path`` (.gif or .mp4); False (reported) if it cannot."""
        widget = self._widget()
        if widget is None:
            self._report("Nothing to record: the plots are not ready.", True)
            return False
        try:
            self._sink = FrameSink(path, fps)
        except RecordError as exc:
            self._report(f"Not recording: {exc}", True)
            return False
        # an even size: MP4 encoders need one; the size is fixed for the whole recording
        self._size = (max(widget.width() // 2 * 2, 2), max(widget.height() // 2 * 2, 2))
        self.grab()
        self._timer.start(round(1000 / fps))
        self._report(f"Recording the plots to {Path(path).name}… (File → Stop recording)", False)
        return True

    def grab(self) -> None:
        """Add the plots as they are now (the timer calls this)."""
        widget = self._widget()
        if self._sink is None or widget is None:
            return
        from PIL import Image

        frame = frame_from_widget(widget, self._size)
        if self._sink.path.suffix.lower() == ".gif":
            frame = frame.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
        self._sink.add(frame)
        if self._sink.count >= MAX_SECONDS * self._sink.fps:
            self._report(f"Recording stopped at its {MAX_SECONDS} s limit.", False)
            self.stop()

    def stop(self) -> Path | None:
        """Stop and write the file; returns it (None if nothing was written)."""
        self._timer.stop()
        sink, self._sink = self._sink, None
        if sink is None:
            return None
        try:
            path = sink.write()
        except (RecordError, OSError) as exc:
            self._report(f"Recording not written: {exc}", True)
            return None
        self._report(f"Recorded {sink.count} frames to {path.name}", False)
        return path

"""``optiscope record``: train a lesson headless and record its plots drawing as a GIF or MP4.

The window's plot code draws the frames offscreen, so this command imports the GUI (Qt,
pyqtgraph) only when it runs, never when the engine or the command line is imported.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from .common import UsageError, add_experiment_args, load_experiment, prepare_out_file

MAX_SIDE = 3840


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"([0-9]{1,5})[xX]([0-9]{1,5})", text.strip())
    if not m:
        shown = repr(text if len(text) <= 40 else text[:40] + "...")
        raise UsageError(f"--size must look like 1280x720 (width x height in pixels), got {shown}")
    w, h = int(m[1]), int(m[2])
    if not (160 <= w <= MAX_SIDE and 120 <= h <= MAX_SIDE):
        raise UsageError(f"--size {w}x{h} is out of range: width 160-{MAX_SIDE}, height 120-{MAX_SIDE}")
    return w, h


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="record a lesson's plots drawing as an animated GIF or MP4")
    add_experiment_args(p, seeds=True)  # every seed trained, each runner drawn as its mean and band
    p.set_defaults(func=cmd_record)
    p.add_argument("--size", default="1280x720", help="frame size in pixels (default 1280x720)")
    p.add_argument("--fps", type=int, default=10, help="frames per second (default 10)")
    p.add_argument("--seconds", type=float, default=6.0, help="length of the recording (default 6)")
    for action in p._actions:  # the shared --out is a folder elsewhere; here it is the file
        if action.dest == "out":
            action.help = "the file to write: .gif (Pillow) or .mp4 (imageio + imageio-ffmpeg)"


def cmd_record(args: argparse.Namespace) -> int:
    size = _size(args.size)
    if not 1 <= args.fps <= 60:
        raise UsageError(f"--fps must be between 1 and 60, got {args.fps}")
    if not 1 <= args.seconds <= 120:
        raise UsageError(f"--seconds must be between 1 and 120, got {args.seconds:g}")
    out = Path(args.out)
    if out.suffix.lower() not in (".gif", ".mp4"):
        raise UsageError(f"--out must end in .gif or .mp4, got {str(out)!r}")
    if out.suffix.lower() == ".mp4" and (size[0] % 2 or size[1] % 2):
        raise UsageError(
            f"--size {size[0]}x{size[1]}: an MP4 (H.264) needs an even width and height, "
            f"e.g. {size[0] // 2 * 2}x{size[1] // 2 * 2} (or record a .gif)"
        )
    exp = load_experiment(args)
    prepare_out_file(out)  # before any training
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith(
        "linux"
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless server draws offscreen
    try:
        from optiscope.gui.recorder import RecordError, record_experiment
    except ImportError as exc:  # pragma: no cover - an install without the GUI
        raise UsageError(
            f"recording needs the window's plot code (PySide6, pyqtgraph, Pillow): {exc}"
        ) from None
    try:
        path, frames = record_experiment(
            exp, out, size=size, fps=args.fps, seconds=args.seconds, log=lambda m: print(m, file=sys.stderr)
        )
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}: {frames} frames at {size[0]}x{size[1]}, {args.fps} fps", file=sys.stderr)
    return 0

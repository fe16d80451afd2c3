"""The frame encoder under faults: a planted symlink never redirects the recording, an MP4
streams its frames to the encoder instead of keeping them, and an output path that cannot be
written is refused before any training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from optiscope.engine.cli import main
from PIL import Image


def _frames(n: int, size=(64, 48)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_symlink_at_the_old_temporary_name_is_never_followed(tmp_path, suffix):
    from optiscope.gui.recorder import FrameSink

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / f"talk{suffix}"
    (tmp_path / f".{out.name}.part{suffix}").symlink_to(victim)  # the name the encoder used to write
    sink = FrameSink(out, 10)
    for frame in _frames(4):
        sink.add(frame)
    assert sink.write() == out
    assert victim.read_text() == "precious" and not out.is_symlink() and out.stat().st_size > 0
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == sorted(["victim.txt", out.name, f".{out.name}.part{suffix}"])  # no temporary left


def test_an_mp4_keeps_no_frames_in_memory(tmp_path):
    import imageio_ffmpeg
    from optiscope.gui.recorder import FrameSink

    sink = FrameSink(tmp_path / "talk.mp4", 10)
    for frame in _frames(12):
        sink.add(frame)
        assert sink.frames == []  # each went to the encoder at once
    sink.write()
    # ffmpeg decodes it again (check_output: no pipe is left open for the garbage collector)
    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "talk.mp4"))
    assert frames == 12


@pytest.mark.parametrize("bad", ["folder", "proc"])
def test_record_refuses_an_out_it_cannot_write_before_training(tmp_path, capsys, bad):
    out = tmp_path / "x.gif"
    if bad == "folder":
        out.mkdir()
    else:
        out = Path(f"/proc/self/fdinfo/x{os.getpid()}.gif")
    rc = main(["record", "--preset", "blobs-sgd", "--size", "320x240", "--seconds", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--out" in err and "training" not in err, err

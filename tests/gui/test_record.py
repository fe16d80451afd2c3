"""Recordings for slides: ``optiscope record`` and the frame encoder."""

from __future__ import annotations

import pytest
from optiscope.engine.cli import main
from PIL import Image


def frames_of(path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as im:
        return im.n_frames, im.size


def test_record_cli_writes_a_gif_of_the_asked_size_and_frame_count(tmp_path, capsys, qapp):
    out = tmp_path / "race.gif"
    code = main(
        [
            "record",
            "--preset",
            "momentum-sweep",
            "--epochs",
            "25",
            "--out",
            str(out),
            "--size",
            "480x270",
            "--fps",
            "8",
            "--seconds",
            "3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    n, size = frames_of(out)
    assert size == (480, 270)
    assert n >= 20  # 8 fps x 3 s = 24 frames asked for, from 100 epoch ends of 4 runs
    assert n == 24
    assert "24 frames at 480x270" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*part*"))  # the temporary file is gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.avi"], "--out must end in .gif or .mp4"),
        (["--out", "x.gif", "--size", "big"], "--size must look like 1280x720"),
        (["--out", "x.gif", "--size", "20x20"], "out of range"),
        (["--out", "x.gif", "--fps", "0"], "--fps must be between 1 and 60"),
    ],
)
def test_record_cli_bad_input_is_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["record", "--preset", "momentum-sweep", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written

"""Recordings for slides: ``optiscope record`` and the frame encoder."""

from __future__ import annotations

import re
import subprocess

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
            "10",
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
    assert n >= 20  # 8 fps x 3 s = 24 frames asked for, from 40 epoch ends of 4 runs
    assert n == 24
    assert "24 frames at 480x270" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*part*"))  # the temporary file is gone


def test_record_cli_writes_an_mp4_of_exactly_the_asked_size(tmp_path, capsys, qapp):
    ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the optional 'video' extra")
    import numpy as np

    out = tmp_path / "race.mp4"
    # 270 is no multiple of 16: imageio's default would pad the video to 272 rows
    args = ["record", "--preset", "momentum-sweep", "--epochs", "10", "--out", str(out)]
    code = main([*args, "--size", "480x270", "--fps", "8", "--seconds", "3"])
    assert code == 0, capsys.readouterr().err
    # decoded by ffmpeg itself: the stream's description, then every frame as raw RGB
    decoded = subprocess.run(
        [ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    stream = re.search(r"Video: h264.*?, (\d+)x(\d+).*?, ([\d.]+) fps", decoded.stderr.decode())
    assert stream is not None, decoded.stderr.decode()[-2000:]
    assert (int(stream[1]), int(stream[2])) == (480, 270) and float(stream[3]) == 8
    frames = np.frombuffer(decoded.stdout, np.uint8).reshape(-1, 270, 480, 3)
    assert len(frames) == 24  # 8 fps x 3 s
    assert frames[0].std() > 5 and not (frames[0] == frames[-1]).all()  # pictures that change
    assert not list(tmp_path.glob(".*part*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.avi"], "--out must end in .gif or .mp4"),
        (["--out", "x.gif", "--size", "big"], "--size must look like 1280x720"),
        (["--out", "x.gif", "--size", "20x20"], "out of range"),
        (["--out", "x.gif", "--fps", "0"], "--fps must be between 1 and 60"),
        (["--out", "x.mp4", "--size", "481x270"], "an MP4 (H.264) needs an even width and height"),
    ],
)
def test_record_cli_bad_input_is_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["record", "--preset", "momentum-sweep", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_file_record_in_the_window_writes_the_plots_as_they_draw(qtbot, make_window, tmp_path):
    from optiscope.engine.presets import get_preset

    w = make_window()
    exp = get_preset("momentum-sweep").with_overrides(epochs=12)
    w.settings.set_lesson_pace(exp.name, 0)
    w.set_experiment(exp)
    assert not w.classroom.start_recording(tmp_path / "clip.avi")  # a clear refusal, no file
    assert "record to a .gif or .mp4" in w.messages[-1] and not list(tmp_path.iterdir())
    out = tmp_path / "clip.gif"
    started_at = (w.plots.width() // 2 * 2, w.plots.height() // 2 * 2)
    assert w.classroom.start_recording(out)
    assert w.acts["record"].isChecked()
    recorder = w.classroom.recorder
    assert recorder.frame_size == started_at
    # driven epoch by epoch (Epoch: the run pauses at each epoch's end), one frame grabbed after
    # each: as many changed frames as epochs drawn, however fast or loaded the machine is
    runs = len(exp.runs())
    stepped = 6
    for k in range(1, stepped + 1):
        w.transport.step_epoch()
        qtbot.waitUntil(lambda k=k: len(w.runs.epoch_events) >= runs * k, timeout=60_000)
        w.flush_plots()
        recorder.grab()
    with qtbot.waitSignal(w.run_finished, timeout=60_000):
        w.run()  # Run resumes the paused run to its end
    w.flush_plots()
    recorder.grab()
    frames = list(recorder.frames)
    distinct = 1 + sum(a.tobytes() != b.tobytes() for a, b in zip(frames, frames[1:], strict=False))
    assert w.classroom.stop_recording() == out
    assert not w.acts["record"].isChecked() and not recorder.recording
    n, size = frames_of(out)
    assert size == started_at  # frames keep the size recording started at
    assert n == distinct >= stepped + 1  # the plots changed as they drew (Pillow merges repeats)
    with Image.open(out) as im:
        total = 0
        for k in range(im.n_frames):
            im.seek(k)
            total += im.info["duration"]
    assert total == 100 * len(frames)  # every grabbed frame's 1/10 s is in the file


@pytest.mark.parametrize("frozen", [False, True])
def test_mp4_without_an_encoder_says_what_to_do(frozen, monkeypatch, tmp_path):
    """Without imageio-ffmpeg (the installers ship none) an MP4 is refused with a sentence that
    fits the install: pip for a source install, a .gif for the frozen app (no pip there)."""
    import sys

    from optiscope.gui.recorder import FrameSink, RecordError

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import -> ImportError
    if frozen:
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(RecordError) as err:
        FrameSink(tmp_path / "race.mp4", 10)
    message = str(err.value)
    assert (".gif" in message) and (("pip install" in message) != frozen)
    assert not (tmp_path / "race.mp4").exists()


def test_record_cli_seeds_reach_the_recorder(tmp_path, capsys, monkeypatch):
    """``record --seeds N`` records the experiment with N seeds per runner (the recorder trains
    every seed and draws each runner's mean and band)."""
    import optiscope.gui.recorder as recorder

    seen = []

    def fake(exp, out, **_kw):
        seen.append(exp)
        return out, 0

    monkeypatch.setattr(recorder, "record_experiment", fake)
    out = tmp_path / "race.gif"
    assert main(["record", "--preset", "momentum-sweep", "--seeds", "3", "--out", str(out)]) == 0
    assert [e.seeds for e in seen] == [3] and len(seen[0].seeded_runs()) == 4 * 3
    with pytest.raises(SystemExit) as bad:  # argparse's exit, as for every bad number
        main(["record", "--preset", "momentum-sweep", "--seeds", "0", "--out", str(out)])
    assert bad.value.code == 2 and "give at least 1 seed per runner" in capsys.readouterr().err

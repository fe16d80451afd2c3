"""``optiscope-app --lesson momentum-sweep --presentation`` on a bare X server (Xvfb, no window
manager: a kiosk, some projector PCs) fills the screen: the window's geometry, read back from
the X server with xdotool, is the screen's. Skipped where Xvfb or xdotool is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
    reason="needs Xvfb and xdotool (apt-get install -y xvfb xdotool)",
)


def _start_xvfb(width: int, height: int) -> tuple[subprocess.Popen, str]:
    """A bare X server of ``width`` x ``height`` on a free display (Xvfb picks it: -displayfd)."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display"
    return server, f":{number}"


def _geometry(env: dict[str, str], pid: int) -> tuple[int, int, int, int] | None:
    """x, y, width, height of process ``pid``'s visible window, as the X server has it."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(pid)], env=env, capture_output=True, text=True
    )
    for wid in found.stdout.split():
        out = subprocess.run(
            ["xdotool", "getwindowgeometry", "--shell", wid], env=env, capture_output=True, text=True
        ).stdout
        vals = dict(re.findall(r"(\w+)=(\d+)", out))
        if {"X", "Y", "WIDTH", "HEIGHT"} <= vals.keys() and int(vals["WIDTH"]) > 100:
            return int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])
    return None


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_presentation_fills_a_screen_without_a_window_manager(size, tmp_path: Path) -> None:
    server, display = _start_xvfb(*size)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=display, OPTISCOPE_SETTINGS=str(tmp_path / "settings.ini"))
    log = tmp_path / "app.log"
    with log.open("w") as err:
        app = subprocess.Popen(
            [sys.executable, "-m", "optiscope.gui.app", "--lesson", "momentum-sweep", "--presentation"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        geometry = None
        end = time.monotonic() + 120
        while time.monotonic() < end and app.poll() is None:
            geometry = _geometry(env, app.pid)
            if geometry == (0, 0, *size):
                break
            time.sleep(0.5)
        assert app.poll() is None, log.read_text()
        assert geometry == (0, 0, *size), (geometry, size)
    finally:
        app.kill()
        app.wait(30)
        server.kill()
        server.wait(30)

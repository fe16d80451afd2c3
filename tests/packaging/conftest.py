"""The ``freeze`` marker: tests of a frozen bundle (minutes; see README "Packaging"), and
``run_killing_group``: run a long command, and on timeout stop it with all its children."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line(
        "markers",
        "freeze: builds and smoke-tests the frozen bundle; runs only with OPTISCOPE_FREEZE=1 "
        "(or OPTISCOPE_BUNDLE=path/to/a/built/bundle to smoke-test one already built)",
    )


def run_in_own_group(cmd: list[str], log: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` in a session (process group) of its own, its output going to ``log`` as it is
    written (the build's stage lines can be followed with ``tail -f``). On timeout the whole
    group is stopped (SIGTERM, then SIGKILL after 10 s) so no child keeps running; returns
    (exit code, or None after a timeout; the log's last 6000 characters)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:  # the leader may be gone while children of the group live on
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return code, log.read_text(encoding="utf-8", errors="replace")[-6000:]


@pytest.fixture
def run_killing_group():
    return run_in_own_group

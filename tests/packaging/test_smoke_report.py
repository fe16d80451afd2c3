"""packaging/smoke_test.py reports a skipped check as skipped, never as passed, and fails where
``--require`` (the release job) names a check that did not run. No bundle is needed here."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke():
    spec = importlib.util.spec_from_file_location("smoke_test_report", ROOT / "packaging/smoke_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(check_id: str, status: str) -> dict:
    return {"id": check_id, "check": check_id, "status": status, "detail": f"{status} here"}


def test_a_skip_is_counted_apart_and_fails_only_where_required(smoke):
    results = [_result("no-network", "skip"), _result("presets", "pass"), _result("self-test-xvfb", "skip")]
    lines, code = smoke.summarize(results, required=[])
    assert code == 0
    assert lines[-1] == "1 passed, 0 failed, 2 skipped (no-network, self-test-xvfb)"
    assert any(line.startswith("SKIP  self-test-xvfb") for line in lines)
    assert not any(line.startswith("PASS  self-test-xvfb") for line in lines)
    lines, code = smoke.summarize(results, required=["self-test-xvfb"])
    assert code == 1
    assert lines[-1] == "required checks that did not run: self-test-xvfb"
    _, code = smoke.summarize([*results[:2], _result("self-test-xvfb", "pass")], required=["self-test-xvfb"])
    assert code == 0
    _, code = smoke.summarize([_result("presets", "fail")], required=[])
    assert code == 1


def test_a_required_check_that_never_ran_fails(smoke):
    """--skip-cli leaves the CLI checks out: requiring one of them must not pass silently."""
    _, code = smoke.summarize([_result("self-test-offscreen", "pass")], required=["presets"])
    assert code == 1


def test_require_with_an_unknown_id_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging/smoke_test.py"),
            "--executable",
            "x",
            "--reference",
            sys.executable,
            "--require",
            "xvfb",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("smoke_test.py: error: --require names unknown checks ['xvfb']")
    assert len(out.stderr.strip().splitlines()) == 1


def _fake_unshare(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / "unshare"
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux only")
def test_refused_unshare_is_a_skip_not_a_pass(smoke, tmp_path, monkeypatch):
    _fake_unshare(tmp_path / "bin", 'echo "unshare: unshare failed: Operation not permitted" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    prefix, result = smoke.no_network_prefix(sys.executable)
    assert prefix == []
    assert result["status"] == "skip" and "not permitted" in result["detail"]


def _network_reachable() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux only")
@pytest.mark.skipif(not _network_reachable(), reason="this machine has no route to test against")
def test_an_unshare_that_leaves_the_network_up_fails_the_check(smoke, tmp_path, monkeypatch):
    _fake_unshare(tmp_path / "bin", 'while [ "${1#-}" != "$1" ]; do shift; done; exec "$@"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    prefix, result = smoke.no_network_prefix(sys.executable)
    assert prefix == [] and result["status"] == "fail"


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or shutil.which("unshare") is None
    or subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0,
    reason="unshare -n is not permitted here",
)
def test_a_working_namespace_passes_and_cuts_the_network(smoke):
    prefix, result = smoke.no_network_prefix(sys.executable)
    assert result["status"] == "pass" and prefix[0] == "unshare"
    probe = subprocess.run([*prefix, sys.executable, "-c", smoke.UNREACHABLE_PROBE], capture_output=True)
    assert probe.returncode != 0


def test_windows_points_the_run_store_with_optiscope_home(smoke, tmp_path, monkeypatch):
    """platformdirs on Windows asks the shell API for the data folder and ignores LOCALAPPDATA:
    the run store must be moved with OPTISCOPE_HOME, which the engine honours."""
    monkeypatch.setenv("OPTISCOPE_HOME", "/somewhere/of/the/runner")
    env = smoke.clean_env(tmp_path, windows=True)
    home = Path(env["OPTISCOPE_HOME"])
    assert tmp_path in home.parents
    code = "from optiscope.engine.store import default_store_path; print(default_store_path())"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert tmp_path in Path(out.stdout.strip()).parents
    assert "OPTISCOPE_HOME" not in smoke.clean_env(tmp_path, windows=False)

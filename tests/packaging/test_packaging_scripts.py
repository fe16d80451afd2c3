"""The packaging scripts, checked without building anything: shell syntax (and shellcheck
where installed), and the smoke test's comparison of frozen vs source outputs."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_SCRIPTS = [
    ROOT / "packaging/build.sh",
    *sorted((ROOT / "packaging/linux").glob("*.sh")),
    ROOT / ".ci/run",
]


def _smoke():
    spec = importlib.util.spec_from_file_location("smoke_test", ROOT / "packaging/smoke_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_pass_shellcheck(script):
    out = subprocess.run(["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_the_packaging_files_the_scripts_use_exist():
    for name in (
        "optiscope.spec",
        "launcher.py",
        "smoke_test.py",
        "render_icon.py",
        "constraints.txt",
        "optiscope.desktop",
        "build.ps1",
        "windows/optiscope.iss",
        "linux/make_deb.sh",
        "linux/install_test.sh",
        "linux/clean_root_test.sh",
    ):
        assert (ROOT / "packaging" / name).is_file(), name


def test_pyinstaller_is_pinned():
    pins = (ROOT / "packaging/constraints.txt").read_text(encoding="utf-8").splitlines()
    assert any(line.split("#")[0].strip().startswith("pyinstaller==") for line in pins)


def test_the_desktop_entry_runs_the_installed_command():
    entry = dict(
        line.split("=", 1)
        for line in (ROOT / "packaging/optiscope.desktop").read_text().splitlines()
        if "=" in line
    )
    assert (
        entry["Exec"].split()[0] == "optiscope"
        and entry["Icon"] == "optiscope"
        and entry["Type"] == "Application"
    )
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(
            ["desktop-file-validate", str(ROOT / "packaging/optiscope.desktop")], capture_output=True
        )
        assert out.returncode == 0, out.stdout


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_smoke_compare_ignores_wall_clock_but_not_results(tmp_path):
    smoke = _smoke()
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a / "metrics.csv", "run,epoch,val_loss,seconds\n0,1,0.5,1.25\n")
    _write(b / "metrics.csv", "run,epoch,val_loss,seconds\n0,1,0.5,9.75\n")
    _write(a / "summary.json", json.dumps({"runs": [{"best": 0.5, "wall_seconds": 1.0}]}))
    _write(b / "summary.json", json.dumps({"runs": [{"best": 0.5, "wall_seconds": 3.0}]}))
    assert smoke.compare_dirs(a, b) == []
    _write(b / "metrics.csv", "run,epoch,val_loss,seconds\n0,1,0.50000001,9.75\n")
    (problem,) = smoke.compare_dirs(a, b)
    assert problem.startswith("metrics.csv: row 1 differs")
    _write(b / "metrics.csv", "run,epoch,val_loss,seconds\n0,1,0.5,9.75\n")
    _write(b / "summary.json", json.dumps({"runs": [{"best": 0.25, "wall_seconds": 3.0}]}))
    assert smoke.compare_dirs(a, b) == ["summary.json: values differ"]


def test_smoke_compare_reads_npz_members_and_notices_missing_files(tmp_path):
    smoke = _smoke()

    def npz(path: Path, payload: bytes) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("loss.npy", payload)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())

    npz(tmp_path / "a/surface.npz", b"\x93NUMPY same")
    npz(tmp_path / "b/surface.npz", b"\x93NUMPY same")
    assert smoke.compare_dirs(tmp_path / "a", tmp_path / "b") == []
    npz(tmp_path / "b/surface.npz", b"\x93NUMPY diff")
    assert smoke.compare_dirs(tmp_path / "a", tmp_path / "b") == ["surface.npz: array loss.npy differs"]
    _write(tmp_path / "a/surface.png", "png")
    assert smoke.compare_dirs(tmp_path / "a", tmp_path / "b")[0].startswith("files differ")
    assert smoke.compare_dirs(tmp_path / "c", tmp_path / "d") == ["no output files were written"]


def test_smoke_reads_gif_size_and_frames_as_pillow_writes_them(tmp_path):
    from PIL import Image

    smoke = _smoke()
    for frames, size, local in ((1, (7, 5), False), (9, (320, 240), True)):
        images = [Image.new("RGB", size, (i * 25, 255 - i * 25, 40)) for i in range(frames)]
        path = tmp_path / f"{frames}.gif"
        images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0, optimize=local)
        with Image.open(path) as check:
            expected = (*check.size, check.n_frames)  # Pillow's own reading
        assert smoke.gif_info(path.read_bytes()) == expected == (*size, frames)
    other = tmp_path / "other.gif"
    Image.new("RGB", (320, 240)).save(other)
    assert "frames" in smoke.compare_file(tmp_path / "9.gif", other)
    assert smoke.compare_file(tmp_path / "9.gif", tmp_path / "9.gif") is None


def test_clean_root_test_refuses_what_it_cannot_test(tmp_path):
    """The clean-root install test parses, and says in one line what is wrong (exit 2) before it
    mounts or installs anything: wrong arguments, or a folder that is not a Debian root."""
    import os
    import subprocess

    script = ROOT / "packaging/linux/clean_root_test.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: clean_root_test.sh ROOT DEB" in usage.stderr
    deb = tmp_path / "optiscope_0.1.0_amd64.deb"
    deb.write_bytes(b"")
    args = ["bash", str(script), str(tmp_path / "not-a-root"), str(deb), "python3", str(tmp_path / "work")]
    got = subprocess.run(args, capture_output=True, text=True)
    assert got.returncode == 2
    if os.geteuid() == 0:
        assert "is not a Debian root; make one with: debootstrap --variant=minbase" in got.stderr
    else:
        assert "needs root" in got.stderr
    assert not (tmp_path / "work").exists()  # nothing made before the checks

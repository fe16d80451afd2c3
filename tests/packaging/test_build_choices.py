"""packaging/build.sh's and make_deb.sh's choices, checked with ``--dry-run`` /
``--print-compression`` (nothing is built): compression a 2-core machine finishes in minutes,
``dpkg-deb --threads-max`` only where dpkg-deb has it (dpkg >= 1.21.9), zstd in the .deb only
where dpkg-deb can write it."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux build scripts")
needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg") is None, reason="dpkg (version comparison) is not installed"
)


def _fake_dpkg_deb(folder: Path, version: str, zstd: bool) -> Path:
    """A dpkg-deb that reports ``version`` and refuses -Zzstd unless ``zstd``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dpkg-deb"
    refuse = (
        ""
        if zstd
        else 'for a in "$@"; do [ "$a" = -Zzstd ] && { echo "unknown compressor" >&2; exit 2; }; done\n'
    )
    path.write_text(
        "#!/bin/sh\n"
        f"""[ "$1" = --version ] && {{ echo "Debian 'dpkg-deb' package management program version {version} (amd64)."; exit 0; }}\n"""
        + refuse
        + "exit 0\n",
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def _run(cmd: list[str], fake: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    if fake is not None:
        full_env["PATH"] = f"{fake}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=120)


@needs_dpkg
@pytest.mark.parametrize(
    ("version", "zstd", "expected"),
    [
        ("1.21.1", True, "-Zzstd -z12"),  # Ubuntu 22.04 (zstd patched in, no --threads-max)
        ("1.20.13", False, "-Zxz -z6"),  # Debian 11: neither
        ("1.21.9", False, "-Zxz -z6 --threads-max=N"),
        ("1.21.22", True, "-Zzstd -z12 --threads-max=N"),  # Debian 12
    ],
)
def test_deb_compression_follows_what_dpkg_deb_can_do(tmp_path, version, zstd, expected):
    fake = _fake_dpkg_deb(tmp_path / "bin", version, zstd)
    out = _run(["bash", str(ROOT / "packaging/linux/make_deb.sh"), "--print-compression"], fake)
    assert out.returncode == 0, out.stderr
    assert re.sub(r"--threads-max=\d+", "--threads-max=N", out.stdout.strip()) == expected


@needs_dpkg
def test_dry_run_prints_stages_and_fast_multithreaded_compression(tmp_path):
    fake = _fake_dpkg_deb(tmp_path / "bin", "1.21.1", True)
    out = _run(
        ["bash", str(ROOT / "packaging/build.sh"), "--dry-run"], fake, OPTISCOPE_BUILD_DIR=str(tmp_path / "b")
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    zstd = re.search(r"^archive: tar \| zstd (.*)$", text, flags=re.M).group(1).split()
    assert "-T0" in zstd and "--long=27" in zstd  # every core, a 128 MiB window (decoders' default limit)
    level = int(next(a for a in zstd if re.fullmatch(r"-\d+", a))[1:])
    assert 12 <= level <= 15  # 19 took ~31 minutes on two shared cores
    assert f"deb: dpkg-deb -Zzstd -z{level}\n" in text  # the archive's level; the old dpkg: no --threads-max
    for stage in ("PyInstaller", "dangling links", "glibc minimum", "REQUIREMENTS.txt", "archive", ".deb"):
        assert stage in text
    assert text.index("REQUIREMENTS.txt") < text.index("archive;")  # written into the bundle first
    assert not (tmp_path / "b").exists()  # nothing was built


def test_zstd_level_is_checked_and_passed_on(tmp_path):
    out = _run(["bash", str(ROOT / "packaging/build.sh"), "--dry-run", "--no-installer"], ZSTD_LEVEL="14")
    assert out.returncode == 0 and "zstd -T0 -14 --long=27" in out.stdout
    out = _run(["bash", str(ROOT / "packaging/build.sh"), "--dry-run"], ZSTD_LEVEL="22")
    assert out.returncode == 2
    assert out.stderr.strip() == "build.sh: ZSTD_LEVEL must be a whole number from 1 to 19, not '22'"


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd is not installed")
def test_the_archive_zstd_options_make_an_archive_tar_reads_back(tmp_path):
    """--long=27 stays within the decoder's default window: a plain `tar --zstd -x` reads it."""
    out = _run(["bash", str(ROOT / "packaging/build.sh"), "--dry-run", "--no-installer"])
    zstd = re.search(r"^archive: tar \| zstd (.*)$", out.stdout, flags=re.M).group(1).split()
    src = tmp_path / "optiscope"
    src.mkdir()
    (src / "data.bin").write_bytes(os.urandom(1000) * 300)
    (src / "link").symlink_to("data.bin")
    archive = tmp_path / "a.tar.zst"
    with subprocess.Popen(
        ["tar", "-C", str(tmp_path), "-cf", "-", "optiscope"], stdout=subprocess.PIPE
    ) as tar:
        subprocess.run(["zstd", "-q", *zstd, "-o", str(archive)], stdin=tar.stdout, check=True)
    assert tar.returncode == 0
    dest = tmp_path / "dest"
    dest.mkdir()
    subprocess.run(["tar", "--zstd", "-C", str(dest), "-xf", str(archive)], check=True)
    assert (dest / "optiscope/data.bin").read_bytes() == (src / "data.bin").read_bytes()
    assert (dest / "optiscope/link").is_symlink()


def test_the_build_writes_requirements_and_the_start_script_before_the_archive():
    script = (ROOT / "packaging/build.sh").read_text(encoding="utf-8")
    archive = script.index('zstd -q "${ZSTD_ARGS[@]}"')
    for step in ('bundle_tools.py" requirements', 'bundle_tools.py" launcher', 'bundle_tools.py" links'):
        assert -1 < script.index(step) < archive, step


def test_a_timed_out_build_is_stopped_with_all_its_children(run_killing_group, tmp_path):
    """What the opt-in build test does on timeout: no child process (zstd, xz) keeps running."""
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "slow.sh"
    script.write_text(
        f'#!/usr/bin/env bash\necho "==> stage one"\nsleep 300 & echo $! > "{pid_file}"\nwait\n',
        encoding="utf-8",
    )
    code, tail = run_killing_group(["bash", str(script)], tmp_path / "log.txt", timeout=3)
    assert code is None and "==> stage one" in tail
    child = int(pid_file.read_text())
    try:
        os.kill(child, 0)
        alive = Path(f"/proc/{child}/stat").read_text().split()[2] != "Z"  # a zombie is gone
    except ProcessLookupError:
        alive = False
    assert not alive, "the build's child process outlived the timeout"


@needs_dpkg
@pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("readelf") is None, reason="dpkg-deb, binutils"
)
def test_make_deb_builds_a_package_with_complete_depends(tmp_path):
    """make_deb.sh on a tiny fake bundle (a real ELF file as the executable): the package holds
    the bundle, the command and the menu entry, depends on the libraries the file links to
    (libselinux1 for `ls`, found with dpkg -S) and on fontconfig-config, and is compressed as
    --print-compression said."""
    bundle = tmp_path / "optiscope"
    bundle.mkdir()
    shutil.copy(shutil.which("ls"), bundle / "optiscope-bin")
    (bundle / "optiscope").write_text("#!/bin/sh\nexec true\n")
    (bundle / "optiscope").chmod(0o755)
    icons = tmp_path / "icons"
    icons.mkdir()
    (icons / "optiscope-256.png").write_bytes(b"\x89PNG fake")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cmd = [
        "bash",
        str(ROOT / "packaging/linux/make_deb.sh"),
        str(bundle),
        "0.0.1",
        "2.36",
        str(icons),
        str(out_dir),
    ]
    out = _run(cmd, PYTHON=sys.executable)
    assert out.returncode == 0, out.stdout + out.stderr
    (deb,) = out_dir.glob("*.deb")
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True).stdout
    entries = [d.strip() for d in depends.split(",")]
    assert entries[0] == "libc6 (>= 2.36)"
    ls_libs = subprocess.run(["readelf", "-d", shutil.which("ls")], capture_output=True, text=True).stdout
    if "libselinux.so.1" in ls_libs:
        assert "libselinux1" in entries
    assert "fontconfig-config" in entries
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    for path in (
        "./opt/optiscope/optiscope-bin",
        "./usr/bin/optiscope -> /opt/optiscope/optiscope",
        "./usr/share/applications/optiscope.desktop",
    ):
        assert path in listing, path
    members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True).stdout.split()
    expected = _run(["bash", str(ROOT / "packaging/linux/make_deb.sh"), "--print-compression"]).stdout
    suffix = ".zst" if "-Zzstd" in expected else ".xz"
    assert f"data.tar{suffix}" in members

"""packaging/bundle_tools.py and packaging/linux/optiscope.sh on small fake bundles: dangling
links, the glibc minimum, the start script's C library check, the .deb's dependencies."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux bundle tools")


@pytest.fixture(scope="module")
def tools():
    spec = importlib.util.spec_from_file_location("bundle_tools", ROOT / "packaging/bundle_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# ---------------------------------------------------------------- dangling links
def test_dangling_library_links_are_removed_and_any_other_fails(tools, tmp_path):
    lib = tmp_path / "bundle" / "_internal" / "PySide6" / "Qt" / "lib"
    lib.mkdir(parents=True)
    (lib / "libQt6Core.so.6").write_bytes(b"core")
    (lib / "libQt6Core.so").symlink_to("libQt6Core.so.6")  # valid: kept
    (tmp_path / "bundle" / "_internal" / "libQt6Quick.so.6").symlink_to("PySide6/Qt/lib/libQt6Quick.so.6")
    (tmp_path / "bundle" / "notes.txt").symlink_to("missing.txt")
    bundle = tmp_path / "bundle"
    assert tools.main(["links", str(bundle)]) == 1  # notes.txt is not a library link: a build error
    assert not (bundle / "_internal" / "libQt6Quick.so.6").is_symlink()
    assert (lib / "libQt6Core.so").resolve() == (lib / "libQt6Core.so.6").resolve()
    assert [p.name for p in tools.dangling_links(bundle)] == ["notes.txt"]
    (bundle / "notes.txt").unlink()
    assert tools.main(["links", str(bundle)]) == 0
    assert tools.dangling_links(bundle) == []


# ---------------------------------------------------------------- glibc minimum
OBJDUMP_P = """
/x/libfoo.so:     file format elf64-x86-64

Dynamic Section:
  NEEDED               libc.so.6

Version References:
  required from libstdc++.so.6:
    0x0297f870 0x00 05 GLIBCXX_3.4.30
  required from libc.so.6:
    0x06969194 0x00 04 GLIBC_2.14
    0x069691b4 0x00 03 GLIBC_2.34
    0x09691a75 0x00 02 GLIBC_2.2.5

/x/libbar.so:     file format elf64-x86-64

Version definitions:
1 0x01 0x0865f4e6 libbar.so
2 0x00 0x06969197 GLIBC_2.99
"""


def test_glibc_requirements_reads_only_required_versions(tools):
    assert sorted(tools.glibc_requirements(OBJDUMP_P)) == [(2, 2, 5), (2, 14), (2, 34)]


@linux_only
@pytest.mark.skipif(not shutil.which("objdump") or not shutil.which("readelf"), reason="binutils")
def test_required_glibc_of_real_files_agrees_with_readelf(tools, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for tool in ("ls", "cp", "tar"):
        shutil.copy(shutil.which(tool), bundle / tool)
    (bundle / "README").write_text("not an ELF file")
    # independent reading: readelf's version-needs section
    out = subprocess.run(["readelf", "-V", *map(str, bundle.glob("[!R]*"))], capture_output=True, text=True)
    versions = {tuple(map(int, v.split("."))) for v in re.findall(r"Name: GLIBC_(\d+(?:\.\d+)+)", out.stdout)}
    assert tools.required_glibc(bundle) == ".".join(map(str, max(versions)))


def test_supported_systems_name_the_oldest_release_of_each_family(tools):
    assert tools.supported_systems("2.36") == "Debian 12+, Ubuntu 24.04+, Fedora 37+, RHEL/Rocky/Alma 10+"
    assert tools.supported_systems("2.35") == "Debian 12+, Ubuntu 22.04+, Fedora 36+, RHEL/Rocky/Alma 10+"
    assert tools.supported_systems("2.31") == "Debian 11+, Ubuntu 20.04+, Fedora 35+, RHEL/Rocky/Alma 9+"


# ---------------------------------------------------------------- the start script
@pytest.fixture
def fake_bundle(tools, tmp_path) -> Path:
    bundle = tmp_path / "bundle dir"
    _script(bundle / "optiscope", 'for a in "$@"; do echo "arg:$a"; done; echo ran')  # the "real" exe
    tools.write_launcher(bundle, "2.36")
    return bundle


def _run(exe: Path, *args: str, fake_bin: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if fake_bin is not None:
        env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=60)


@linux_only
def test_the_start_script_refuses_an_older_glibc_in_one_line(fake_bundle, tmp_path):
    _script(tmp_path / "bin" / "getconf", 'echo "glibc 2.31"')
    out = _run(fake_bundle / "optiscope", "presets", fake_bin=tmp_path / "bin")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    line = out.stderr.strip()
    assert line.startswith("optiscope: this system has glibc 2.31; this build needs glibc 2.36 or newer")
    assert "(Debian 12+, Ubuntu 24.04+, Fedora 37+, RHEL/Rocky/Alma 10+)" in line
    assert "install Optiscope from source" in line


@linux_only
@pytest.mark.parametrize("version", ["2.36", "2.40", "3.0"])
def test_the_start_script_runs_the_bundle_on_a_new_enough_glibc(fake_bundle, tmp_path, version):
    _script(tmp_path / "bin" / "getconf", f'echo "glibc {version}"')
    out = _run(fake_bundle / "optiscope", "run", "a file.toml", fake_bin=tmp_path / "bin")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["arg:run", "arg:a file.toml", "ran"]


@linux_only
def test_the_start_script_falls_back_to_ldd_and_names_a_non_glibc_system(fake_bundle, tmp_path):
    fake = tmp_path / "bin"
    _script(fake / "getconf", "exit 1")
    _script(fake / "ldd", 'echo "ldd (Debian GLIBC 2.28-10+deb10u2) 2.28"')
    out = _run(fake_bundle / "optiscope", fake_bin=fake)
    assert out.returncode == 1 and "this system has glibc 2.28;" in out.stderr
    _script(fake / "ldd", 'echo "musl libc (x86_64)"; echo "Version 1.2.4"')
    out = _run(fake_bundle / "optiscope", fake_bin=fake)
    assert out.returncode == 1
    assert out.stderr.startswith("optiscope: this system has no GNU C library (glibc)")


@linux_only
@pytest.mark.skipif(not hasattr(os, "confstr"), reason="no confstr")
def test_the_start_script_reads_the_same_version_as_confstr_and_works_through_a_symlink(tools, tmp_path):
    have = os.confstr("CS_GNU_LIBC_VERSION").split()[1]  # e.g. "2.36"
    major, minor = have.split(".")[:2]
    bundle = tmp_path / "bundle"
    _script(bundle / "optiscope", "echo ran")
    tools.write_launcher(bundle, f"{major}.{int(minor) + 1}")
    link = tmp_path / "usr-bin" / "optiscope"  # as /usr/bin/optiscope -> /opt/optiscope/optiscope
    link.parent.mkdir()
    link.symlink_to(bundle / "optiscope")
    out = _run(link)
    assert out.returncode == 1 and f"this system has glibc {have};" in out.stderr
    tools.write_launcher(bundle, have)
    assert _run(link).stdout == "ran\n"


# ---------------------------------------------------------------- .deb dependencies
def test_debian_depends_maps_sonames_and_reports_unknown_ones(tools):
    needed = {"libc.so.6", "libm.so.6", "libxcb-cursor.so.0", "libQt6Core.so.6", "libweird.so.7"}
    depends, unknown = tools.debian_depends(needed, {"libQt6Core.so.6"}, "2.36", lookup=lambda s: None)
    assert depends[0] == "libc6 (>= 2.36)"
    assert set(depends[1:]) == {"libxcb-cursor0", "fontconfig-config"}
    assert unknown == ["libweird.so.7"]
    depends, unknown = tools.debian_depends(needed, {"libQt6Core.so.6"}, "2.36", lookup=lambda s: "libweird7")
    assert unknown == [] and "libweird7" in depends


QT_KEPT = (
    "libQt6Core.so.6",
    "libQt6Gui.so.6",
    "libQt6Widgets.so.6",
    "libQt6DBus.so.6",
    "libQt6XcbQpa.so.6",
    "libQt6OpenGL.so.6",
    "libQt6Svg.so.6",
)


@linux_only
@pytest.mark.skipif(not shutil.which("readelf"), reason="binutils")
def test_every_library_qts_x11_plugin_needs_has_a_package_without_asking_this_host(tools):
    """What the bundle's Qt X11 plugin and libraries link to and PySide6 does not carry must map
    to a package from the table alone (a build host that lacks a library still gets it right)."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    files = [qt / "plugins/platforms/libqxcb.so", *(qt / "lib" / name for name in QT_KEPT)]
    carried = {p.name for p in (qt / "lib").iterdir()}
    depends, unknown = tools.debian_depends(
        tools.needed_sonames(files), carried, "2.36", lookup=lambda s: None
    )
    assert unknown == []
    for package in ("libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1", "libgl1"):
        assert package in depends


def _debian_index_available() -> bool:
    if not shutil.which("apt-cache"):
        return False
    return subprocess.run(["apt-cache", "show", "libc6"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _debian_index_available(), reason="no Debian package index on this machine")
def test_every_package_named_exists_in_the_debian_index(tools):
    names = sorted({*tools.SONAME_PACKAGES.values(), *tools.EXTRA_PACKAGES})
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *names], capture_output=True, text=True)
    found = set(re.findall(r"^Package: (\S+)$", out.stdout, flags=re.M))
    assert sorted(set(names) - found) == []


def test_requirements_name_the_glibc_and_the_systems(tools, tmp_path):
    tools.write_requirements(tmp_path, "2.36", "0.1.0", "x86_64")
    lines = (tmp_path / "REQUIREMENTS.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Optiscope 0.1.0 for Linux x86_64"
    assert (
        lines[1] == "Needs glibc 2.36 or newer: Debian 12+, Ubuntu 24.04+, Fedora 37+, RHEL/Rocky/Alma 10+."
    )


@linux_only
@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
def test_dpkg_lookup_finds_ldconfig_outside_a_users_path(tools, monkeypatch):
    """A normal user's PATH lacks /sbin, where ldconfig is: the lookup must still work."""
    libc = "libc.so.6"
    expected = subprocess.run(["dpkg", "-S", "libc.so.6"], capture_output=True, text=True).stdout
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    package = tools._dpkg_package(libc)
    assert package is not None and package in expected

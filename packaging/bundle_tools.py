"""Checks and fix-ups of the frozen Linux bundle, run by build.sh (standard library only).

    python packaging/bundle_tools.py links BUNDLE      # remove dangling library links, fail on others
    python packaging/bundle_tools.py glibc BUNDLE      # the oldest glibc the bundle runs on
    python packaging/bundle_tools.py launcher BUNDLE   # optiscope -> optiscope-bin + the start script
    python packaging/bundle_tools.py requirements BUNDLE --version V   # BUNDLE/REQUIREMENTS.txt
    python packaging/bundle_tools.py depends BUNDLE    # the .deb's Depends: line

``links``: the spec drops Qt libraries the app never loads, but PyInstaller's symlinks to them
stay behind, dangling. They are removed; any other dangling link fails the build (exit 1).

``glibc``: the newest ``GLIBC_x.y`` symbol version that any ELF file of the bundle requires
(``objdump -p``, "Version References"): the oldest C library it runs on.

``launcher``: on Linux the bundle starts through ``linux/optiscope.sh``, a POSIX shell script
that checks the C library before the real executable (renamed ``optiscope-bin``) and its
libpython are loaded, so an older system gets one line naming the supported systems instead
of the loader's raw error. The minimum and the systems are written into the script here.

``depends``: the Debian packages of every library the bundle's files link to (``NEEDED``) and
do not carry, from a table of the names in Debian 12 and Ubuntu 22.04+ (what Qt's X11 plugin
needs, whether or not the build host has it) or else from ``dpkg -S`` on the build host; a
library that maps to no package fails (exit 1), naming it. ``fontconfig-config`` is added: the
bundled libfontconfig reads its ``/etc/fonts/fonts.conf`` (and it brings fonts-dejavu-core).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARY = re.compile(r"\.so(\.\d+)*$")
GLIBC_REQUIREMENT = re.compile(r"^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+\d+\s+GLIBC_(\d+(?:\.\d+)+)\s*$")

# the oldest release of each family with at least this glibc (from each release's libc6)
GLIBC_OF_RELEASES = {
    "Debian": [("10", (2, 28)), ("11", (2, 31)), ("12", (2, 36)), ("13", (2, 41))],
    "Ubuntu": [("20.04", (2, 31)), ("22.04", (2, 35)), ("24.04", (2, 39))],
    "Fedora": [
        ("35", (2, 34)),
        ("36", (2, 35)),
        ("37", (2, 36)),
        ("38", (2, 37)),
        ("39", (2, 38)),
        ("40", (2, 39)),
    ],
    "RHEL/Rocky/Alma": [("8", (2, 28)), ("9", (2, 34)), ("10", (2, 39))],
}

GLIBC_SONAMES = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libanl.so.1",
    "libmvec.so.1",
}
SONAME_PACKAGES = {
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libgomp.so.1": "libgomp1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libGLdispatch.so.0": "libglvnd0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libexpat.so.1": "libexpat1",
    "libpng16.so.16": "libpng16-16",
    "libbz2.so.1.0": "libbz2-1.0",
    "liblzma.so.5": "liblzma5",
    "libffi.so.8": "libffi8",
    "libuuid.so.1": "libuuid1",
    "libcrypt.so.1": "libcrypt1",
    "libxml2.so.2": "libxml2",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
}
EXTRA_PACKAGES = ("fontconfig-config",)


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_files(root: Path) -> list[Path]:
    """Regular ELF files under ``root`` (not symlinks)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and _is_elf(p))


# ---------------------------------------------------------------- links
def dangling_links(root: Path) -> list[Path]:
    """Symlinks under ``root`` whose target does not exist."""
    return sorted(p for p in root.rglob("*") if p.is_symlink() and not p.exists())


def prune_dangling_library_links(root: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Remove dangling symlinks to shared libraries (what the spec dropped); returns
    ((removed link, its target) pairs, dangling links that remain)."""
    removed = []
    for link in dangling_links(root):
        target = os.readlink(link)
        if LIBRARY.search(link.name) and LIBRARY.search(target):
            link.unlink()
            removed.append((link, target))
    return removed, dangling_links(root)


# ---------------------------------------------------------------- glibc
def glibc_requirements(objdump_p: str) -> list[tuple[int, ...]]:
    """The GLIBC versions listed as required in ``objdump -p`` output."""
    found, inside = [], False
    for line in objdump_p.splitlines():
        if line.startswith("Version References:"):
            inside = True
        elif inside and line and not line[0].isspace():
            inside = False
        elif inside and (m := GLIBC_REQUIREMENT.match(line)):
            found.append(tuple(int(x) for x in m.group(1).split(".")))
    return found


def required_glibc(root: Path) -> str:
    """The newest GLIBC version any ELF file under ``root`` requires (e.g. "2.36")."""
    files = [str(p) for p in elf_files(root)]
    versions: list[tuple[int, ...]] = []
    for i in range(0, len(files), 200):
        out = subprocess.run(["objdump", "-p", *files[i : i + 200]], capture_output=True, text=True)
        versions += glibc_requirements(out.stdout)
    if not versions:
        raise SystemExit(f"bundle_tools.py: no ELF file under {root} requires a GLIBC version")
    return ".".join(map(str, max(versions)))


def supported_systems(glibc: str) -> str:
    """E.g. "Debian 12+, Ubuntu 24.04+, Fedora 37+, RHEL/Rocky/Alma 10+" for glibc 2.36."""
    need = tuple(int(x) for x in glibc.split("."))
    parts = []
    for family, releases in GLIBC_OF_RELEASES.items():
        first = next((name for name, version in releases if version >= need), None)
        if first is not None:
            parts.append(f"{family} {first}+")
    return ", ".join(parts) or "none of the releases known to this script"


# ---------------------------------------------------------------- launcher
def write_launcher(bundle: Path, glibc: str, template: Path = HERE / "linux" / "optiscope.sh") -> Path:
    """Rename the bundle's executable to ``optiscope-bin`` and put the start script in its place."""
    exe, real = bundle / "optiscope", bundle / "optiscope-bin"
    if not real.exists():
        exe.rename(real)
    text = template.read_text(encoding="utf-8")
    for key, value in (("@REQUIRED_GLIBC@", glibc), ("@SUPPORTED_SYSTEMS@", supported_systems(glibc))):
        if key not in text:
            raise SystemExit(f"bundle_tools.py: {template} has no {key}")
        text = text.replace(key, value)
    exe.write_text(text, encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return exe


def write_requirements(bundle: Path, glibc: str, version: str, machine: str) -> Path:
    """``REQUIREMENTS.txt`` in the bundle (it goes into the archive): what the system needs."""
    path = bundle / "REQUIREMENTS.txt"
    path.write_text(
        f"Optiscope {version} for Linux {machine}\n"
        f"Needs glibc {glibc} or newer: {supported_systems(glibc)}.\n"
        "And a desktop session (X11, or Wayland with XWayland). Start it with ./optiscope (the window);\n"
        "./optiscope --help lists the commands, ./optiscope --self-test checks this copy.\n",
        encoding="utf-8",
    )
    return path


# ---------------------------------------------------------------- Debian dependencies
def needed_sonames(files: list[Path]) -> set[str]:
    """The sonames the files link to directly (readelf -d NEEDED)."""
    names: set[str] = set()
    for i in range(0, len(files), 200):
        out = subprocess.run(
            ["readelf", "-d", *map(str, files[i : i + 200])], capture_output=True, text=True
        ).stdout
        names |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    return names


def _dpkg_package(soname: str) -> str | None:
    """The package that holds ``soname`` on this machine (ldconfig -p, dpkg -S), if any."""
    # ldconfig lives in /sbin, which a normal user's PATH may lack
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None
    )
    if not shutil.which("dpkg") or ldconfig is None:
        return None
    listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split(" ")[0] == soname:
            for path in (parts[1], os.path.realpath(parts[1])):
                out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
                if out.returncode == 0 and ":" in out.stdout:
                    return out.stdout.split(":")[0].strip()
    return None


def debian_depends(
    needed: set[str], carried: set[str], glibc: str, lookup=_dpkg_package
) -> tuple[list[str], list[str]]:
    """(Depends entries, sonames no package was found for) for libraries ``needed`` and not
    ``carried`` by the bundle."""
    packages = {f"libc6 (>= {glibc})"}
    unknown = []
    for soname in sorted(needed - carried):
        if soname in GLIBC_SONAMES:
            continue
        package = SONAME_PACKAGES.get(soname) or lookup(soname)
        if package is None:
            unknown.append(soname)
        elif package != "libc6":
            packages.add(package)
    packages.update(EXTRA_PACKAGES)
    libc = f"libc6 (>= {glibc})"
    return [libc, *sorted(packages - {libc})], unknown


def bundle_depends(bundle: Path, glibc: str) -> tuple[list[str], list[str]]:
    files = elf_files(bundle)
    carried = {p.name for p in bundle.rglob("*") if LIBRARY.search(p.name)}
    return debian_depends(needed_sonames(files), carried, glibc)


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["links", "glibc", "launcher", "requirements", "depends"])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--glibc", help="the minimum glibc (default: computed from the bundle)")
    parser.add_argument("--version", default="", help="Optiscope's version (requirements)")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if not bundle.is_dir():
        print(f"bundle_tools.py: error: {bundle} is not a folder", file=sys.stderr)
        return 2
    if args.action == "links":
        removed, remaining = prune_dangling_library_links(bundle)
        for link, target in removed:
            print(f"removed dangling link {link.relative_to(bundle)} -> {target}")
        if remaining:
            listing = ", ".join(f"{p.relative_to(bundle)} -> {os.readlink(p)}" for p in remaining)
            print(f"bundle_tools.py: error: dangling symlinks in the bundle: {listing}", file=sys.stderr)
            return 1
        print(f"no dangling symlinks ({len(removed)} removed)")
        return 0
    glibc = args.glibc or required_glibc(bundle)
    if args.action == "glibc":
        print(glibc)
    elif args.action == "requirements":
        print(
            write_requirements(bundle, glibc, args.version, os.uname().machine).read_text(encoding="utf-8"),
            end="",
        )
    elif args.action == "launcher":
        exe = write_launcher(bundle, glibc)
        print(
            f"{exe.name}: start script (needs glibc >= {glibc}: {supported_systems(glibc)}); the executable is optiscope-bin"
        )
    else:
        depends, unknown = bundle_depends(bundle, glibc)
        if unknown:
            print(
                f"bundle_tools.py: error: no Debian package known for {', '.join(unknown)}: install it on the "
                "build machine (dpkg -S finds it) or add it to SONAME_PACKAGES in packaging/bundle_tools.py",
                file=sys.stderr,
            )
            return 1
        print(", ".join(depends))
    return 0


if __name__ == "__main__":
    sys.exit(main())

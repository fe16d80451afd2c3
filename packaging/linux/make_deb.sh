#!/usr/bin/env bash
# Wrap the frozen Linux bundle into a Debian package (called by packaging/build.sh).
#
#   bash packaging/linux/make_deb.sh BUNDLE_DIR VERSION MIN_GLIBC ICON_DIR OUT_DIR
#   bash packaging/linux/make_deb.sh --print-compression   # the dpkg-deb options it would use
#
# Installs the bundle in /opt/optiscope, the command /usr/bin/optiscope (a symlink to the
# bundle's start script, which finds the bundle through it), the desktop entry and the icon
# (SVG + 256 px PNG). Depends: libc6 (>= MIN_GLIBC) and the packages of every system library
# the bundle links to and does not carry (packaging/bundle_tools.py depends: a soname table for
# Debian 12 / Ubuntu 22.04+, else dpkg -S on this host; an unknown library fails the build),
# plus fontconfig-config (the bundled libfontconfig's configuration; it brings a font).
# Compression: zstd at ZSTD_LEVEL (default 12, as the archive) where this dpkg-deb can write it
# (dpkg >= 1.21.18, and Ubuntu's since 21.10: every system the bundle runs on reads it), else
# xz -6; --threads-max only where dpkg-deb has it (dpkg >= 1.21.9; Ubuntu 22.04 has 1.21.1).
# PYTHON: the interpreter that runs bundle_tools.py (default python3).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# the dpkg-deb options for this machine's dpkg-deb
deb_compression() {
    local version probe opts
    version=$(dpkg-deb --version | sed -n '1s/.* version \([^ ]*\).*/\1/p')
    [ -n "$version" ] || { echo "make_deb.sh: cannot read dpkg-deb's version" >&2; return 1; }
    probe=$(mktemp -d)
    mkdir -p "$probe/root/DEBIAN"
    printf 'Package: probe\nVersion: 1\nArchitecture: all\nMaintainer: x <x@x.invalid>\nDescription: probe\n' \
        >"$probe/root/DEBIAN/control"
    if dpkg-deb -Zzstd -z1 --build "$probe/root" "$probe/probe.deb" >/dev/null 2>&1; then
        opts="-Zzstd -z${ZSTD_LEVEL:-12}"
    else
        opts="-Zxz -z6"
    fi
    rm -rf "$probe"
    if dpkg --compare-versions "$version" ge 1.21.9; then
        opts="$opts --threads-max=$(nproc)"
    fi
    echo "$opts"
}
if [ "${1:-}" = --print-compression ]; then
    deb_compression
    exit
fi
[ $# = 5 ] || { echo "usage: make_deb.sh BUNDLE_DIR VERSION MIN_GLIBC ICON_DIR OUT_DIR" >&2; exit 2; }
bundle=$1 version=$2 glibc=$3 icons=$4 out=$5
compression=$(deb_compression)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
    "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/usr/share/icons/hicolor/256x256/apps" \
    "$stage/usr/share/doc/optiscope" "$stage/DEBIAN"
cp -a "$bundle" "$stage/opt/optiscope"
ln -s /opt/optiscope/optiscope "$stage/usr/bin/optiscope"
install -m 644 "$here/../optiscope.desktop" "$stage/usr/share/applications/optiscope.desktop"
install -m 644 "$here/../../resources/icons/optiscope.svg" "$stage/usr/share/icons/hicolor/scalable/apps/optiscope.svg"
install -m 644 "$icons/optiscope-256.png" "$stage/usr/share/icons/hicolor/256x256/apps/optiscope.png"
cat >"$stage/usr/share/doc/optiscope/README.Debian" <<TXT
Optiscope $version: the frozen bundle in /opt/optiscope (Python, torch CPU, Qt inside).
Needs glibc >= $glibc (the oldest C library any of its files links against).
Start it from the applications menu or run 'optiscope' (window) / 'optiscope --help' (CLI).
TXT

# every system library the bundle links to and does not carry -> its package (or a build error)
depends=$("${PYTHON:-python3}" "$here/../bundle_tools.py" depends "$bundle" --glibc "$glibc")

size_kb=$(du -sk "$stage" --exclude=DEBIAN | cut -f1)
cat >"$stage/DEBIAN/control" <<CTL
Package: optiscope
Version: $version
Architecture: $arch
Maintainer: Optiscope maintainers <maintainers@optiscope.invalid>
Installed-Size: $size_kb
Depends: $depends
Section: education
Priority: optional
Description: desktop lab for optimizers and learning-rate schedules
 See how optimizers and learning-rate schedules shape neural-network training:
 live plots, races of runs, loss landscapes, a headless command line.
 Self-contained (Python, torch CPU and Qt inside, works offline).
 Needs glibc >= $glibc.
CTL
echo "Depends: $depends"
deb=$out/optiscope_${version}_$arch.deb
echo "dpkg-deb $compression"
# shellcheck disable=SC2086  # the options are words
dpkg-deb --root-owner-group $compression --build "$stage" "$deb" >/dev/null
echo "wrote $deb ($(du -m "$deb" | cut -f1) MiB)"

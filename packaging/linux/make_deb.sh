#!/usr/bin/env bash
# Wrap the frozen Linux bundle into a Debian package (called by packaging/build.sh).
#
#   bash packaging/linux/make_deb.sh BUNDLE_DIR VERSION MIN_GLIBC ICON_DIR OUT_DIR
#
# Installs the bundle in /opt/optiscope, the command /usr/bin/optiscope (a symlink; the
# bundle finds itself through it), the desktop entry and the icon (SVG + 256 px PNG).
# Depends: libc6 (>= MIN_GLIBC) and the packages of the system libraries the bundle links to
# but does not carry (found with ldd against this build host, mapped with dpkg -S).
set -euo pipefail
[ $# = 5 ] || { echo "usage: make_deb.sh BUNDLE_DIR VERSION MIN_GLIBC ICON_DIR OUT_DIR" >&2; exit 2; }
bundle=$1 version=$2 glibc=$3 icons=$4 out=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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

# system libraries the bundle links to but does not carry -> their packages
libdirs=$(find "$bundle" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
external=$(find "$bundle" -type f \( -name '*.so*' -o -perm -u+x \) -print0 |
    xargs -0 -n 50 env LD_LIBRARY_PATH="$libdirs" ldd 2>/dev/null |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | grep -v "^$bundle" | sort -u || true)
packages=""
for lib in $external; do
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [ -n "$pkg" ] && packages="$packages $pkg"
done
depends="libc6 (>= $glibc)"
for pkg in $(echo "$packages" | tr ' ' '\n' | sort -u); do
    [ "$pkg" = libc6 ] || depends="$depends, $pkg"
done
# what Qt's X11 plugin needs (README "Set-up"), even when this build host lacks some of them
for pkg in libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1; do
    case ", $depends," in *", $pkg,"*) ;; *) depends="$depends, $pkg" ;; esac
done

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
dpkg-deb --root-owner-group -Zxz -z6 --threads-max="$(nproc)" --build "$stage" "$deb" >/dev/null
echo "wrote $deb ($(du -m "$deb" | cut -f1) MiB)"

#!/usr/bin/env bash
# Install the .deb in a clean minimal Debian root and test it there, as a user's machine would
# have it: nothing but what `debootstrap --variant=minbase` gives and what apt pulls in for the
# package's Depends. The app runs inside the root (chroot); the smoke test (packaging/smoke_test.py)
# drives it from the host through a small wrapper, with the work folder bind-mounted at the same
# path and the host's Xvfb socket folder bind-mounted, so the window check draws into a host Xvfb
# with only the root's libraries. Then `apt-get remove` and no packaged file may be left.
#
#   sudo bash packaging/linux/clean_root_test.sh ROOT DEB REFERENCE_PYTHON WORK_DIR
#
# ROOT: a folder made by `debootstrap --variant=minbase bookworm ROOT MIRROR` (it is changed:
# the package is installed and removed again; use a throwaway copy). REFERENCE_PYTHON: a Python
# with optiscope installed from source (the numbers the bundle must reproduce). WORK_DIR: a new
# folder (the smoke test's files, the report, window.png: the self-test's window under Xvfb).
# SMOKE_REQUIRE: smoke-test checks that must run, not be skipped (e.g. self-test-xvfb).
set -euo pipefail
[ $# = 4 ] || { echo "usage: clean_root_test.sh ROOT DEB REFERENCE_PYTHON WORK_DIR" >&2; exit 2; }
root=$(readlink -f "$1") deb=$(readlink -f "$2") ref=$3 work=$(readlink -m "$4")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "clean_root_test.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (chroot, mounts, apt inside the root)"
[ -f "$root/etc/debian_version" ] && [ -x "$root/usr/bin/apt-get" ] ||
    die "$root is not a Debian root; make one with: debootstrap --variant=minbase bookworm $root <mirror>"
[ -f "$deb" ] || die "no such package: $2"
[ ! -e "$work" ] || die "$work exists; give a new folder"
chroot "$root" dpkg -s optiscope >/dev/null 2>&1 && die "optiscope is installed in $root already; use a fresh root"

mkdir -p "$work/bin" "$root$work" "$root/tmp/.X11-unix"
mounted=()
bind() { mount --bind "$1" "$2"; mounted=("$2" "${mounted[@]}"); }
cleanup() {
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"; mounted=("$root/proc" "${mounted[@]}")
bind /sys "$root/sys"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
bind "$work" "$root$work"
bind /tmp/.X11-unix "$root/tmp/.X11-unix"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

echo "==> what the clean root has before the install"
chroot "$root" sh -c 'echo "$(grep PRETTY_NAME /etc/os-release)"; ls /usr/share/fonts 2>/dev/null | head -3 || true; \
    [ -e /etc/fonts/fonts.conf ] && echo "fontconfig: present" || echo "fontconfig: none"; \
    echo "packages: $(dpkg -l | grep -c ^ii)"'

echo "==> apt install ./$(basename "$deb") inside the root"
cp "$deb" "$root/tmp/"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")"
chroot "$root" sh -c 'echo "packages after: $(dpkg -l | grep -c ^ii)"; [ -e /etc/fonts/fonts.conf ] && echo "fontconfig: present" || echo "fontconfig: none"'

# the app as the smoke test sees it: runs inside the root, in the caller's folder (bind-mounted)
cat >"$work/bin/optiscope" <<EOF
#!/bin/sh
exec chroot "$root" /bin/sh -c 'cd "\$0" && exec /usr/bin/optiscope "\$@"' "\$PWD" "\$@"
EOF
chmod +x "$work/bin/optiscope"

echo "==> smoke test of the installed app (in the root) against $ref"
status=0
"$ref" "$here/../smoke_test.py" --executable "$work/bin/optiscope" --window-shot "$work/window.png" \
    --reference "$ref" --work "$work/smoke" "--require=${SMOKE_REQUIRE:-}" --report "$work/smoke.json" || status=$?

echo "==> apt-get remove"
packaged=$(chroot "$root" dpkg -L optiscope)
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q optiscope >/dev/null
left=""
while IFS= read -r f; do
    if [ -e "$root$f" ] || [ -L "$root$f" ]; then [ -d "$root$f" ] && [ ! -L "$root$f" ] || left="$left $f"; fi
done <<<"$packaged"
[ -z "$left" ] || { echo "clean_root_test.sh: left after 'apt-get remove':$left" >&2; exit 1; }
[ "$status" = 0 ] || { echo "clean_root_test.sh: the smoke test failed in the clean root (see above)" >&2; exit 1; }
echo "clean_root_test.sh: installed in a clean root, ran, removed cleanly"

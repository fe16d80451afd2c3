#!/usr/bin/env bash
# Prove the .deb installs and runs: install it with apt (dependencies resolved), check the
# desktop entry and icon landed, smoke-test /usr/bin/optiscope against the source install,
# then remove the package again and check that no packaged file is left. Run as root on a
# machine you may change (CI, a container; the release runs it in a clean Debian 12 root).
#
#   bash packaging/linux/install_test.sh optiscope_VERSION_ARCH.deb REFERENCE_PYTHON WORK_DIR
# SMOKE_REQUIRE: smoke-test checks that must run, not be skipped (packaging/smoke_test.py --require).
set -euo pipefail
[ $# = 3 ] || { echo "usage: install_test.sh DEB REFERENCE_PYTHON WORK_DIR" >&2; exit 2; }
deb=$(readlink -f "$1") ref=$2 work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ "$(id -u)" = 0 ] || { echo "install_test.sh: needs root (it installs a package)" >&2; exit 2; }
if dpkg -s optiscope >/dev/null 2>&1; then
    echo "install_test.sh: a package 'optiscope' is installed already; remove it first" >&2
    exit 2
fi
cleanup() { apt-get remove -y -q optiscope >/dev/null 2>&1 || dpkg -r optiscope >/dev/null 2>&1 || true; }
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb"
for f in /usr/bin/optiscope /opt/optiscope/optiscope /usr/share/applications/optiscope.desktop \
    /usr/share/icons/hicolor/scalable/apps/optiscope.svg /usr/share/icons/hicolor/256x256/apps/optiscope.png; do
    [ -e "$f" ] || { echo "install_test.sh: $f was not installed" >&2; exit 1; }
done
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate /usr/share/applications/optiscope.desktop
fi
exec_cmd=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' /usr/share/applications/optiscope.desktop)
command -v "$exec_cmd" >/dev/null || { echo "install_test.sh: the desktop entry runs '$exec_cmd', not on PATH" >&2; exit 1; }
"$ref" "$here/../smoke_test.py" --executable "$(command -v "$exec_cmd")" --reference "$ref" --work "$work" \
    "--require=${SMOKE_REQUIRE:-}" --report "$work.json"
packaged=$(dpkg -L optiscope)
cleanup
trap - EXIT
[ ! -e /opt/optiscope ] || { echo "install_test.sh: /opt/optiscope is left after removal" >&2; exit 1; }
left=""
while IFS= read -r f; do
    # folders such as /usr/bin are shared with other packages; every packaged file must be gone
    if [ -e "$f" ] || [ -L "$f" ]; then [ -d "$f" ] && [ ! -L "$f" ] || left="$left $f"; fi
done <<<"$packaged"
[ -z "$left" ] || { echo "install_test.sh: left after 'apt-get remove':$left" >&2; exit 1; }
echo "install_test.sh: installed, ran and removed cleanly"

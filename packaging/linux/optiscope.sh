#!/bin/sh
# Optiscope's start script (Linux bundle): check the C library, then run the real executable.
#
# The bundle's executable (optiscope-bin) and its libpython link against the glibc of the
# machine that built them; on an older system the loader would stop with a raw
# "GLIBC_2.xx not found" error. This script runs first and says in one line what is
# supported and what to do instead. packaging/bundle_tools.py writes the minimum (the newest
# GLIBC symbol version any file of the bundle requires) and the systems into the copy in the
# bundle.
REQUIRED_GLIBC="@REQUIRED_GLIBC@"
SUPPORTED_SYSTEMS="@SUPPORTED_SYSTEMS@"

here=$(dirname "$(readlink -f "$0")")
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9][0-9.]*\)$/\1/p')
if [ -z "$have" ]; then
    have=$(ldd --version 2>&1 | sed -n '1s/^ldd .* \([0-9][0-9]*\.[0-9][0-9.]*\)$/\1/p')
fi

# 0 when version $1 is older than version $2 (major.minor)
older() {
    a_major=${1%%.*} a_rest=${1#*.} b_major=${2%%.*} b_rest=${2#*.}
    a_minor=${a_rest%%.*} b_minor=${b_rest%%.*}
    [ "$a_major" -lt "$b_major" ] || { [ "$a_major" -eq "$b_major" ] && [ "$a_minor" -lt "$b_minor" ]; }
}

instead="install Optiscope from source with Python 3.11+ instead (pip; see the README, section 'Set-up')"
if [ -z "$have" ]; then
    echo "optiscope: this system has no GNU C library (glibc); this build needs glibc $REQUIRED_GLIBC or newer ($SUPPORTED_SYSTEMS): $instead." >&2
    exit 1
fi
if older "$have" "$REQUIRED_GLIBC"; then
    echo "optiscope: this system has glibc $have; this build needs glibc $REQUIRED_GLIBC or newer ($SUPPORTED_SYSTEMS): upgrade the system or $instead." >&2
    exit 1
fi
exec "$here/optiscope-bin" "$@"

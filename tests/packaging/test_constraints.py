"""The two constraint files are used together (packaging/build.sh passes both to pip): a
package pinned in both must be pinned to the same version, or the build cannot resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def test_packages_pinned_in_both_files_agree():
    main, packaging = pins(ROOT / "constraints.txt"), pins(ROOT / "packaging" / "constraints.txt")
    assert main and packaging
    clashes = {
        name: (main[name], packaging[name])
        for name in main.keys() & packaging.keys()
        if main[name] != packaging[name]
    }
    assert not clashes, f"pinned differently (constraints.txt, packaging/constraints.txt): {clashes}"

"""Smoke test of a frozen Optiscope bundle against the source install (standard library only).

    python packaging/smoke_test.py --bundle dist/optiscope --reference .venv/bin/python
    python packaging/smoke_test.py --executable /usr/bin/optiscope --reference .venv/bin/python

``--bundle`` copies the bundle to a new folder whose path has spaces and non-ASCII characters
(keeping symlinks), makes the copy read-only and runs its executable from there;
``--executable`` runs an installed app where it is. Every command runs with an empty HOME
(and empty per-user folders on Windows, where the run store is pointed there with
``OPTISCOPE_HOME``: platformdirs asks the shell for the data folder and ignores LOCALAPPDATA)
and, on Linux, in a network namespace of its own (``unshare -n``).

Checks, each a line of the report (PASS, FAIL or SKIP, each with an id):
- ``no-network``: the commands ran in a namespace where the network is unreachable (a UDP
  connect to a documentation address fails); SKIP where ``unshare -n`` is not permitted or
  not available (Windows, macOS): the commands then ran with the network;
- ``presets``, ``run --preset lr-sweep --epochs 3``, ``run-package-optimizers`` and ``run-prodigy``
  (the Schedule-Free and Prodigy lessons, trained batched), ``lr-find-schedule-free`` and
  ``lr-find-prodigy`` (a run of each alone, on the optimizer classes of their authors' packages),
  ``surface``, ``lr-find``, ``search`` (Optuna
  with its SQLite storage and importances), ``record`` (a GIF), ``gradcheck`` and ``recipe`` write
  the same files as the source install (``--reference``: a Python with optiscope installed) given
  the same command: CSV and JSON compared value by value without wall-clock columns/keys, GIFs by
  size and frame count, every other file byte for byte (``.npz`` member by member); ``recipe``
  may exit 1 (a failed check) but must exit as the source install does; ``store``: the run
  store was written under the empty HOME;
- ``self-test-offscreen``, then ``self-test-xvfb`` (Linux; SKIP when Xvfb is not installed) or
  ``self-test-native`` (Windows/macOS): ``optiscope --self-test`` exits 0: it found its Qt
  plugins and resources, drew readable text, showed the window and trained one short run. Its
  launch-to-shown and launch-to-engine-ready times are reported (not asserted: the machine's
  load decides them).

A skipped check is not a passed one: the summary counts them apart. ``--require ID,ID`` names
checks that must have run (the release job requires ``no-network`` and ``self-test-xvfb`` on
Linux): a skip of one of them fails the smoke test.
Exit code 0 when no check failed and no required check was skipped, 1 otherwise, 2 for a bad
``--require``; ``--report FILE`` writes the results as JSON.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

TIMING_WORDS = ("second", "time", "elapsed", "wall", "date", "created", "started", "finished_at")
CLI_CASES = {
    "presets": ["presets"],
    "run": ["run", "--preset", "lr-sweep", "--epochs", "3", "--out", "out"],
    # the lessons of the optimizers from their authors' packages (their runs train batched, on
    # the engine's twins) ...
    "run-package-optimizers": ["run", "--preset", "schedule-free-vs-tuned", "--epochs", "2", "--out", "out"],
    "run-prodigy": ["run", "--preset", "prodigy-no-lr", "--epochs", "2", "--out", "out"],
    # ... and one run of each alone, on the packages' own classes (imported only when used: the
    # bundle must carry them)
    "lr-find-schedule-free": [
        "lr-find",
        "--preset",
        "schedule-free-vs-tuned",
        "--run",
        "0",
        "--iterations",
        "40",
        "--out",
        "out",
    ],
    "lr-find-prodigy": [
        "lr-find",
        "--preset",
        "prodigy-no-lr",
        "--run",
        "0",
        "--iterations",
        "40",
        "--out",
        "out",
    ],
    "surface": [
        "surface",
        "--preset",
        "blobs-sgd",
        "--epochs",
        "3",
        "--grid",
        "11",
        "--quiet",
        "--out",
        "out",
    ],
    "lr-find": ["lr-find", "--preset", "clr-vs-fixed", "--iterations", "40", "--out", "out"],
    "search": [
        "search",
        "--preset",
        "random-vs-grid",
        "--epochs",
        "3",
        "--trials",
        "4",
        "--quiet",
        "--out",
        "out",
    ],
    "record": [
        "record",
        "--preset",
        "momentum-sweep",
        "--epochs",
        "3",
        "--size",
        "320x240",
        "--out",
        "out/race.gif",
    ],
    "gradcheck": ["gradcheck", "--preset", "blobs-sgd", "--out", "out"],
    # --no-store: a stored recipe group is named after the clock, so its JSON would differ
    "recipe": ["recipe", "--preset", "blobs-sgd", "--no-store", "--out", "out"],
}
# exit codes a case may end with (both installs must agree); every other case must exit 0
ALLOWED_EXIT = {"gradcheck": (0, 1), "recipe": (0, 1)}
WINDOWS = sys.platform == "win32"


# ---------------------------------------------------------------- comparing outputs
def _is_timing(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in TIMING_WORDS)


def _strip_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if not _is_timing(str(k))}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def _csv_rows(data: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        return rows
    keep = [i for i, name in enumerate(rows[0]) if not _is_timing(name)]
    return [[row[i] for i in keep if i < len(row)] for row in rows]


def gif_info(data: bytes) -> tuple[int, int, int]:
    """A GIF's (width, height, frames), read from its blocks (standard library only)."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("not a GIF")
    width, height, flags = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"), data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0

    def skip_sub_blocks(pos: int) -> int:
        while data[pos]:
            pos += data[pos] + 1
        return pos + 1

    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: label, then data sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif data[pos] == 0x2C:  # image descriptor, optional local colour table, LZW data
            frames += 1
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)
        else:
            raise ValueError(f"unexpected GIF block 0x{data[pos]:02x} at byte {pos}")
    return width, height, frames


def compare_file(a: Path, b: Path) -> str | None:
    """None when the two files hold the same results, else what differs."""
    da, db = a.read_bytes(), b.read_bytes()
    suffix = a.suffix.lower()
    if suffix == ".gif":  # drawn by Qt from the same runs; pixels may differ with fonts
        ia, ib = gif_info(da), gif_info(db)
        return None if ia == ib and ia[2] > 1 else f"{a.name}: (width, height, frames) {ia} vs {ib}"
    if suffix == ".csv":
        ra, rb = _csv_rows(da), _csv_rows(db)
        if ra != rb:
            first = next(
                (i for i, (x, y) in enumerate(zip(ra, rb, strict=False)) if x != y), min(len(ra), len(rb))
            )
            return f"{a.name}: row {first} differs ({ra[first : first + 1]} vs {rb[first : first + 1]}; {len(ra)} vs {len(rb)} rows)"
        return None
    if suffix == ".json":
        ja, jb = _strip_timing(json.loads(da)), _strip_timing(json.loads(db))
        return None if ja == jb else f"{a.name}: values differ"
    if suffix == ".npz":
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            if sorted(za.namelist()) != sorted(zb.namelist()):
                return f"{a.name}: arrays {sorted(za.namelist())} vs {sorted(zb.namelist())}"
            for name in za.namelist():
                if za.read(name) != zb.read(name):
                    return f"{a.name}: array {name} differs"
        return None
    return None if da == db else f"{a.name}: bytes differ"


def compare_dirs(a: Path, b: Path) -> list[str]:
    """What differs between two output folders (empty when they agree)."""
    fa = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    if fa != fb:
        return [f"files differ: {fa} vs {fb}"]
    if not fa:
        return ["no output files were written"]
    return [d for name in fa if (d := compare_file(a / name, b / name))]


def _warning_lines(stderr: str) -> list[str]:
    words = ("Warning", "Error", "Traceback", "warning:")
    return [line.strip() for line in stderr.splitlines() if any(w in line for w in words)]


# ---------------------------------------------------------------- running
UNREACHABLE_PROBE = (  # a UDP connect needs a route; in an empty network namespace there is none
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('192.0.2.1', 9))"
)


def no_network_prefix(python: str = sys.executable) -> tuple[list[str], dict]:
    """A command prefix that cuts the network off (Linux), and the ``no-network`` check's result:
    PASS when ``python`` run under the prefix cannot reach a network, SKIP when no prefix works."""
    check = {"id": "no-network", "check": "commands run without network"}
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return [], {**check, "status": "skip", "detail": "skipped: no network namespaces on this platform"}
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
            continue
        probe = subprocess.run([*prefix, python, "-c", UNREACHABLE_PROBE], capture_output=True, text=True)
        if probe.returncode == 0:
            return [], {
                **check,
                "status": "fail",
                "detail": f"'{' '.join(prefix)}' left the network reachable",
            }
        return prefix, {**check, "status": "pass", "detail": f"network namespace ({' '.join(prefix)})"}
    return [], {
        **check,
        "status": "skip",
        "detail": "skipped: unshare -n is not permitted here (the network was reachable)",
    }


def clean_env(home: Path, windows: bool = WINDOWS) -> dict[str, str]:
    """The environment a fresh user would have: empty HOME, none of ours or the venv's.

    On Windows the per-user folders point into ``home`` too, and the run store is put there with
    ``OPTISCOPE_HOME``: platformdirs resolves the data folder through the shell API, which
    ignores LOCALAPPDATA, so without it the check would read the runner's real profile.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPTISCOPE_", "PYTHON", "QT_", "XDG_", "VIRTUAL_ENV", "CONDA"))
    }
    env["HOME"] = str(home)
    if windows:
        for var, sub in (
            ("USERPROFILE", ""),
            ("APPDATA", "AppData/Roaming"),
            ("LOCALAPPDATA", "AppData/Local"),
        ):
            path = home / sub
            path.mkdir(parents=True, exist_ok=True)
            env[var] = str(path)
        env["OPTISCOPE_HOME"] = str(home / "AppData" / "Local" / "Optiscope")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run(
    cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )


def start_xvfb() -> tuple[subprocess.Popen | None, str | None]:
    """A private X server (display string), or (None, None) when Xvfb is not installed."""
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        return None, None
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        return None, None
    return proc, f":{number}"


def self_test(cmd: list[str], env: dict[str, str], cwd: Path, check_id: str, label: str) -> dict:
    launched = time.time()
    proc = run([*cmd, "--self-test"], cwd=cwd, env=env, timeout=300)
    marks = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("OPTISCOPE_SHOWN", "OPTISCOPE_ENGINE_READY"):
            marks[parts[0]] = float(parts[1]) - launched
    ok = proc.returncode == 0 and "OPTISCOPE_SELF_TEST ok" in proc.stdout
    result = {
        "id": check_id,
        "check": f"self-test ({label})",
        "status": "pass" if ok else "fail",
        "window_shown_s": round(marks.get("OPTISCOPE_SHOWN", float("nan")), 3),
        "engine_ready_s": round(marks.get("OPTISCOPE_ENGINE_READY", float("nan")), 3),
    }
    if not ok:
        result["detail"] = (proc.stdout[-3000:] + "\n" + proc.stderr[-3000:]).strip()
    else:
        result["about"] = [ln for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    return result


STATUSES = ("pass", "fail", "skip")


def summarize(results: list[dict], required: list[str]) -> tuple[list[str], int]:
    """The report's lines and the exit code: 1 when a check failed or a required one was
    skipped (or never ran), else 0."""
    lines = []
    for r in results:
        extra = {k: v for k, v in r.items() if k not in ("id", "check", "status", "detail", "about")}
        lines.append(f"{r['status'].upper():4}  {r['id']}: {r['check']}  {extra if extra else ''}".rstrip())
        if r["status"] != "pass" or r["id"].startswith("self-test") and "detail" in r:
            lines.append("      " + str(r.get("detail", "")).replace("\n", "\n      "))
    for line in next((r["about"] for r in results if r.get("about")), []):
        lines.append(line)
    by_status = {s: [r["id"] for r in results if r["status"] == s] for s in STATUSES}
    summary = (
        f"{len(by_status['pass'])} passed, {len(by_status['fail'])} failed, {len(by_status['skip'])} skipped"
    )
    if by_status["skip"]:
        summary += f" ({', '.join(by_status['skip'])})"
    lines.append(summary)
    ran = {r["id"] for r in results if r["status"] != "skip"}
    missing = [name for name in required if name not in ran]
    if missing:
        lines.append(f"required checks that did not run: {', '.join(missing)}")
    return lines, 1 if by_status["fail"] or missing else 0


def check_ids() -> list[str]:
    """Every check's id, in report order (for ``--require``)."""
    return ["no-network", *CLI_CASES, "store", "self-test-offscreen", "self-test-xvfb", "self-test-native"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bundle", type=Path, help="the bundle folder (or Optiscope.app) to copy and test")
    where.add_argument("--executable", type=Path, help="an installed optiscope executable, tested in place")
    parser.add_argument("--reference", required=True, help="Python of the source install to compare with")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--report", type=Path, help="write the results as JSON")
    parser.add_argument("--skip-cli", action="store_true", help="only the window self-test")
    parser.add_argument(
        "--window-shot",
        type=Path,
        help="save the Xvfb self-test's window here as a PNG (to look at its text)",
    )
    parser.add_argument(
        "--require",
        default="",
        metavar="ID,ID",
        help=f"checks that must run, not be skipped (ids: {', '.join(check_ids())})",
    )
    args = parser.parse_args(argv)
    required = [name.strip() for name in args.require.split(",") if name.strip()]
    unknown = [name for name in required if name not in check_ids()]
    if unknown:
        print(
            f"smoke_test.py: error: --require names unknown checks {unknown}; ids: {', '.join(check_ids())}",
            file=sys.stderr,
        )
        return 2

    work = args.work or Path(tempfile.mkdtemp(prefix="optiscope-smoke-"))
    if work.exists():
        _make_writable(work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    results: list[dict] = []
    if args.bundle:
        moved = work / "moved copy – Prüfung" / args.bundle.name
        shutil.copytree(args.bundle, moved, symlinks=True)
        _make_read_only(moved)
        if moved.suffix == ".app":
            exe = moved / "Contents" / "MacOS" / "optiscope"
        else:
            exe = moved / ("optiscope.exe" if WINDOWS else "optiscope")
        where_text = f"copy moved to {moved} (read-only)"
    else:
        exe = args.executable
        where_text = f"installed at {exe}"
    reference = os.path.abspath(args.reference) if os.sep in args.reference else args.reference
    netns, network = no_network_prefix(reference)
    results.append(network)
    frozen_cmd = [*netns, str(exe)]
    ref_cmd = [
        *netns,
        reference,
        "-c",
        "import sys; from optiscope.engine.cli import main; sys.exit(main())",
    ]
    home = work / "home"
    home.mkdir()
    env = clean_env(home)
    print(f"smoke test: {where_text}; empty HOME {home}; {network['detail']}", flush=True)

    if not args.skip_cli:
        for name, cli_args in CLI_CASES.items():
            results.append(_cli_check(name, cli_args, frozen_cmd, ref_cmd, work, env))
        stores = list(home.rglob("runs.sqlite3"))
        results.append(
            {
                "id": "store",
                "check": "run store written under the empty HOME",
                "status": "pass" if stores else "fail",
                "detail": [str(p) for p in stores],
            }
        )

    offscreen = dict(env, QT_QPA_PLATFORM="offscreen")
    results.append(self_test(frozen_cmd, offscreen, work / "self-test", "self-test-offscreen", "offscreen"))
    if sys.platform.startswith("linux"):
        xvfb, display = start_xvfb()
        if xvfb is None:
            results.append(
                {
                    "id": "self-test-xvfb",
                    "check": "self-test (Xvfb)",
                    "status": "skip",
                    "detail": "skipped: Xvfb is not installed",
                }
            )
        else:
            try:
                results.append(
                    self_test(
                        frozen_cmd,
                        dict(env, DISPLAY=display)
                        | ({"OPTISCOPE_SELF_TEST_SHOT": str(args.window_shot)} if args.window_shot else {}),
                        work / "self-test",
                        "self-test-xvfb",
                        f"Xvfb {display}",
                    )
                )
            finally:
                xvfb.terminate()
                xvfb.wait(10)
    else:
        results.append(self_test(frozen_cmd, env, work / "self-test", "self-test-native", "native platform"))

    lines, code = summarize(results, required)
    print("\n".join(lines))
    if args.report:
        args.report.write_text(
            json.dumps(
                {"where": where_text, "required": required, "exit_code": code, "results": results}, indent=2
            )
        )
    if args.bundle:
        _make_writable(work)
    return code


def _cli_check(
    name: str, cli_args: list[str], frozen_cmd: list[str], ref_cmd: list[str], work: Path, env: dict[str, str]
) -> dict:
    """One command, frozen vs source install: exit codes, extra warnings, the files written."""
    t0 = time.perf_counter()
    a = run([*frozen_cmd, *cli_args], cwd=work / "frozen" / name, env=env)
    frozen_s = time.perf_counter() - t0
    ref_home = work / "ref-home"
    ref_home.mkdir(exist_ok=True)
    b = run([*ref_cmd, *cli_args], cwd=work / "source" / name, env=clean_env(ref_home))
    problems = []
    allowed = ALLOWED_EXIT.get(name, (0,))
    if a.returncode not in allowed:
        problems.append(f"frozen exit {a.returncode}: {a.stderr.strip()[-2000:]}")
    if b.returncode not in allowed:
        problems.append(f"source exit {b.returncode}: {b.stderr.strip()[-2000:]}")
    if a.returncode != b.returncode:
        problems.append(f"exit {a.returncode} (frozen) vs {b.returncode} (source)")
    # warnings or errors only the frozen app prints (e.g. a file it lacks)
    extra = sorted(set(_warning_lines(a.stderr)) - set(_warning_lines(b.stderr)))
    if extra:
        problems.append(f"the frozen app warns where the source install does not: {extra[:5]}")
    if not problems:
        if name == "presets":
            if a.stdout != b.stdout or not a.stdout.strip():
                problems.append("the preset lists differ")
        else:
            problems += compare_dirs(work / "frozen" / name / "out", work / "source" / name / "out")
    return {
        "id": name,
        "check": f"cli {' '.join(cli_args)}",
        "status": "fail" if problems else "pass",
        "frozen_s": round(frozen_s, 2),
        **({"detail": problems} if problems else {}),
    }


def _make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


if __name__ == "__main__":
    sys.exit(main())

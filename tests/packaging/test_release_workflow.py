"""A local, runner-free check of packaging/github-release.yml: it parses, every platform builds
with the build script (non-editable install, pinned PyInstaller, smoke test inside), only archives
are uploaded, and its bash steps pass ``bash -n`` (and shellcheck where installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is installed by packaging/build.sh's build venv")

ROOT = Path(__file__).resolve().parents[2]
ARCHIVES = (".tar.zst", ".deb", ".zip", "setup.exe", ".dmg", ".txt", ".json")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((ROOT / "packaging/github-release.yml").read_text(encoding="utf-8"))


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def test_one_job_per_platform_each_building_with_the_build_script(workflow):
    jobs = workflow["jobs"]
    assert set(jobs) == {"linux", "windows", "macos"}
    for name, job in jobs.items():
        scripts = "\n".join(step.get("run", "") for step in _steps(job))
        builder = "build.ps1" if name == "windows" else "build.sh"
        assert f"packaging/{builder}" in scripts, name
        assert "--no-smoke" not in scripts and "-NoSmoke" not in scripts, name
        assert "pip install -e" not in scripts and "pyinstaller " not in scripts.lower(), name
    assert "--install-test" in "\n".join(s.get("run", "") for s in _steps(jobs["linux"]))
    assert "-InstallTest" in "\n".join(s.get("run", "") for s in _steps(jobs["windows"]))
    mac_install = [s.get("run", "") for s in _steps(jobs["macos"]) if "hdiutil attach" in s.get("run", "")]
    assert (
        len(mac_install) == 1
        and "packaging/smoke_test.py" in mac_install[0]
        and "--executable" in mac_install[0]
    )


def test_linux_builds_in_an_old_base_image(workflow):
    assert workflow["jobs"]["linux"]["container"] == "ubuntu:22.04"  # glibc 2.35, stated in the README


def test_uploads_are_archives_not_folders(workflow):
    for name, job in workflow["jobs"].items():
        uploads = [s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/upload-artifact")]
        assert len(uploads) == 1, name
        paths = [p.strip() for p in uploads[0]["with"]["path"].splitlines() if p.strip()]
        assert paths and all(p.endswith(ARCHIVES) for p in paths), (name, paths)
        assert uploads[0]["with"]["if-no-files-found"] == "error"


def test_bash_steps_parse(workflow, tmp_path):
    for name, job in workflow["jobs"].items():
        for i, step in enumerate(_steps(job)):
            if "run" not in step or step.get("shell", "bash") != "bash":
                continue
            script = tmp_path / f"{name}-{i}.sh"
            script.write_text("#!/usr/bin/env bash\n" + step["run"], encoding="utf-8")
            out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
            assert out.returncode == 0, (name, step.get("name"), out.stderr)
            if shutil.which("shellcheck"):
                out = subprocess.run(
                    ["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True
                )
                assert out.returncode == 0, (name, step.get("name"), out.stdout)

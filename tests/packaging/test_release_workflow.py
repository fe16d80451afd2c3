"""A local, runner-free check of packaging/github-release.yml: it parses, every platform builds
with the build script (non-editable install, pinned PyInstaller, smoke test inside), only archives
are uploaded, the smoke test's required checks exist and can run there, a tag publishes a
release (its shell step run here with a fake ``gh``), and its bash steps pass ``bash -n`` (and
shellcheck where installed)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is installed by packaging/build.sh's build venv")

ROOT = Path(__file__).resolve().parents[2]
ARCHIVES = (".tar.zst", ".deb", ".zip", "setup.exe", ".dmg", ".txt", ".json")
BUILD_JOBS = ("linux", "windows", "macos")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((ROOT / "packaging/github-release.yml").read_text(encoding="utf-8"))


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def test_one_job_per_platform_each_building_with_the_build_script(workflow):
    jobs = workflow["jobs"]
    assert set(jobs) == {*BUILD_JOBS, "linux-clean-install", "release"}
    for name in BUILD_JOBS:
        job = jobs[name]
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
    assert workflow["jobs"]["linux"]["container"]["image"] == "ubuntu:22.04"  # glibc 2.35, in the README


def test_uploads_are_archives_not_folders(workflow):
    for name in BUILD_JOBS:
        job = workflow["jobs"][name]
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


def _smoke_check_ids() -> list[str]:
    spec = importlib.util.spec_from_file_location("smoke_test_ids", ROOT / "packaging/smoke_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_ids()


def test_every_smoke_test_requires_its_platforms_checks(workflow):
    """A skipped window or network check must fail the release, not pass it."""
    ids = _smoke_check_ids()
    expected = {
        "linux": {"no-network", "self-test-xvfb"},
        "linux-clean-install": {"no-network", "self-test-xvfb"},
        "windows": {"self-test-native"},
        "macos": {"self-test-native"},
    }
    for name, required in expected.items():
        job = workflow["jobs"][name]
        names = set(job["env"]["SMOKE_REQUIRE"].split(","))
        assert names == required and names <= set(ids), name
        if "no-network" in names:  # unshare -n in a container needs SYS_ADMIN
            assert "--cap-add=SYS_ADMIN" in job["container"]["options"], name


def test_the_deb_is_installed_in_a_clean_debian_12_root(workflow):
    job = workflow["jobs"]["linux-clean-install"]
    assert job["needs"] == "linux" and job["container"]["image"] == "debian:12"
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    assert "packaging/linux/install_test.sh" in scripts
    installed = scripts.split("apt-get install", 1)[1].split("\n", 1)[0]
    for lib in ("fonts-", "fontconfig", "libxcb", "libxkbcommon", "libgl"):  # the .deb must bring them
        assert lib not in installed, lib


def test_a_tag_publishes_a_release_after_every_job_passed(workflow):
    assert workflow[True]["push"]["tags"] == ["v*"]  # PyYAML reads the key `on` as True
    job = workflow["jobs"]["release"]
    assert job["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert set(job["needs"]) == {*BUILD_JOBS, "linux-clean-install"}
    assert job["permissions"] == {"contents": "write"}
    assert workflow["permissions"] == {"contents": "read"}  # only the release job may write


def test_the_release_step_uploads_every_installer_and_names_each_report(workflow, tmp_path):
    """The publish step, run here with a fake `gh` on downloaded-artifact folders."""
    (step,) = [s for s in workflow["jobs"]["release"]["steps"] if "run" in s]
    for platform, files in {
        "optiscope-linux-x86_64": ["optiscope-0.1.0-linux-x86_64.tar.zst", "optiscope_0.1.0_amd64.deb"],
        "optiscope-windows-x64": ["optiscope-0.1.0-windows-x64.zip", "optiscope-0.1.0-setup.exe"],
        "optiscope-macos-arm64": ["optiscope-0.1.0-macos-arm64.tar.zst", "Optiscope-0.1.0.dmg"],
    }.items():
        folder = tmp_path / "artifacts" / platform
        folder.mkdir(parents=True)
        for name in [*files, "build-report.txt", "smoke-report.json"]:
            (folder / name).write_text(name)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$GH_ARGS"\n')
    (fake / "gh").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
        "GH_ARGS": str(tmp_path / "gh-args"),
        "GITHUB_REF_NAME": "v0.1.0",
        "GITHUB_REPOSITORY": "optiscope/optiscope",
    }
    out = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    args = (tmp_path / "gh-args").read_text().splitlines()
    assert args[:3] == ["release", "create", "v0.1.0"]
    assert args[args.index("--title") + 1] == "Optiscope 0.1.0"
    uploaded = sorted(Path(a).name for a in args if a.startswith("release/"))
    assert uploaded == sorted(
        [
            "optiscope-0.1.0-linux-x86_64.tar.zst",
            "optiscope_0.1.0_amd64.deb",
            "optiscope-0.1.0-windows-x64.zip",
            "optiscope-0.1.0-setup.exe",
            "optiscope-0.1.0-macos-arm64.tar.zst",
            "Optiscope-0.1.0.dmg",
            *(
                f"{p}-{r}"
                for p in ("optiscope-linux-x86_64", "optiscope-windows-x64", "optiscope-macos-arm64")
                for r in ("build-report.txt", "smoke-report.json")
            ),
        ]
    )

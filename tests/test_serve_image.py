"""The generated Dockerfile, built for real with podman, pushed to a local registry, run, called."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import bake, project_env, run
from template_support.containers import (
    BASE_PYTHON,
    build_image,
    ensure_base_image,
    free_port,
    have_tools,
    image_size,
    local_registry,
    podman,
    registry_tags,
    running_container,
    wait_for,
)

RUN = ("--runtime", "runc", "--cgroup-manager", "cgroupfs")


def call(url: str, body: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


@pytest.fixture(scope="module")
def image_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A bake whose python_version matches the local base image, serving the trained model.

    The model artifact does not depend on the python_version option, so the one trained by the
    session fixture is copied in (with its commit) instead of training a second time.
    """
    missing = have_tools()
    if missing:
        pytest.fail(f"missing tools for the image test: {', '.join(missing)} (run scripts/system-deps.sh)")
    project = bake(tmp_path_factory.mktemp("image"), python_version=BASE_PYTHON)
    shutil.copytree(trained_project / "models", project / "models", dirs_exist_ok=True)
    commit = run(["git", "rev-parse", "HEAD"], cwd=trained_project).stdout.strip()
    return project, commit


@pytest.fixture(scope="module")
def pushed_image(image_project, tmp_path_factory):
    """Build, push to a local registry, drop the local copy, pull it back: yields the pulled ref."""
    project, commit = image_project
    base = ensure_base_image()
    workdir = tmp_path_factory.mktemp("registry")
    with local_registry(workdir) as registry:
        local_tag = f"localhost/{project.name}:test"
        build_image(project, local_tag, base, commit)
        remote = f"{registry}/{project.name}:{commit[:12]}"
        podman("tag", local_tag, remote)
        podman("push", "--tls-verify=false", remote)
        assert commit[:12] in registry_tags(registry, project.name)
        podman("rmi", "--force", local_tag, remote)
        podman("pull", "--tls-verify=false", remote)
        yield {"ref": remote, "base": base, "commit": commit, "project": project}
        podman("rmi", "--force", remote, check=False)


@pytest.mark.slow
def test_container_serves_predictions(pushed_image, trained_project):
    port = free_port()
    project = pushed_image["project"]
    with running_container(pushed_image["ref"], port) as name:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}/ready", timeout=90)
        except AssertionError:
            logs = podman("logs", name, check=False)
            raise AssertionError(f"container not ready:\n{logs.stdout}\n{logs.stderr}") from None
        with (trained_project / "data/processed/test.csv").open() as handle:
            rows = list(csv.DictReader(handle))[:5]
        records = [{key: float(value) for key, value in row.items() if key != "target"} for row in rows]
        status, headers, body = call(f"{base}/predict", {"records": records})
        assert status == 200, body
        assert len(body["predictions"]) == 5
        assert all(set(p) == {"0", "1"} for p in body["probabilities"])

        status, headers, version = call(f"{base}/version")
        sha = hashlib.sha256((project / "models/model.skops").read_bytes()).hexdigest()
        assert version["git_commit"] == pushed_image["commit"]
        assert version["model_sha256"] == sha
        assert headers["x-model-version"] == version["model_version"]

        status, _, body = call(f"{base}/predict", {"records": [{"mean radius": "big"}]})
        assert status == 422 and "mean radius" in body["detail"]

        health = podman(*RUN, "healthcheck", "run", name, check=False)
        assert health.returncode == 0, health.stdout + health.stderr


@pytest.mark.slow
def test_image_is_lean_and_runs_as_a_user(pushed_image):
    ref = pushed_image["ref"]
    config = json.loads(podman("image", "inspect", ref).stdout)[0]
    assert config["Config"]["User"] == "10001:10001"
    healthcheck = config.get("Healthcheck") or config["Config"].get("Healthcheck")  # podman puts it on top
    assert "/ready" in " ".join(healthcheck["Test"])
    assert config["Config"]["Labels"]["org.opencontainers.image.revision"] == pushed_image["commit"]
    probe = (
        "import importlib.util as u, shutil, os; "
        "print(os.getuid(), [m for m in ('dvc', 'evidently', 'pip') if u.find_spec(m)], "
        "[c for c in ('gcc', 'cc', 'c++', 'g++', 'clang', 'make') if shutil.which(c)])"
    )
    out = podman(*RUN, "run", "--rm", "--network", "none", ref, "python", "-c", probe).stdout.strip()
    assert out == "10001 [] []"
    listing = podman(*RUN, "run", "--rm", "--network", "none", ref, "ls", "/app/models").stdout.split()
    assert sorted(listing) == ["model.skops", "reference.json", "schema.json"]
    added = image_size(ref) - image_size(pushed_image["base"])
    assert 0 < added < 600 * 1024**2, f"the image adds {added / 1024**2:.0f} MB over its base"


def test_make_serve_listens_on_port_from_env(trained_project):
    port = free_port()
    env = project_env(trained_project, PORT=str(port))
    process = subprocess.Popen(
        ["make", "serve", f"PYTHON={sys.executable}"],
        cwd=trained_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", timeout=60, process=process)
        status, _, version = call(f"http://127.0.0.1:{port}/version")
        commit = run(["git", "rev-parse", "HEAD"], cwd=trained_project).stdout.strip()
        assert status == 200 and version["git_commit"] == commit
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

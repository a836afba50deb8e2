"""Build, push and run the generated project's image with podman, without a Docker engine.

Used by tests/test_serve_image.py and benchmarks/bench_serve.py. Facts this relies on
(see the toolchain notes): podman builds with ``--isolation=chroot --network host`` and runs with
``--runtime runc --cgroup-manager cgroupfs``; no container registry can be pulled from, so the
base image is a Debian rootfs made by debootstrap, put in place of the Dockerfile's digest-pinned
``base`` stage; a local registry is Debian's ``docker-registry``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BASE_IMAGE = os.environ.get("SERVE_TEST_BASE_IMAGE", "localhost/debian-python:bookworm")
BASE_PYTHON = "3.11"  # python3 of Debian bookworm: bake the project with this python_version
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CONF_DIR = Path(tempfile.gettempdir()) / "template-tests-podman"


def podman_env() -> dict[str, str]:
    """podman's default ulimits cannot be applied in these sandboxes: use a config without them."""
    CONF_DIR.mkdir(exist_ok=True)
    conf = CONF_DIR / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def image_size(ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def ensure_base_image(ref: str = BASE_IMAGE) -> str:
    """A Debian bookworm image with python3 and venv, made locally (about 1-4 minutes, once)."""
    if image_exists(ref):
        return ref
    with tempfile.TemporaryDirectory(prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
            ],
            check=True,
            capture_output=True,
            timeout=1200,
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["podman", "import", "-", ref],
            stdin=tar.stdout,
            env=podman_env(),
            check=True,
            capture_output=True,
            timeout=600,
        )
        tar.wait()
    return ref


def build_image(context: Path, tag: str, base: str, git_commit: str) -> None:
    """Build the generated Dockerfile on ``base`` instead of its pinned python:X-slim.

    The Dockerfile's first stage, ``base``, is the digest-pinned Docker Hub image (which cannot be
    pulled here); ``--build-context base=docker-image://...`` replaces that stage, as it does with
    ``docker build`` (BuildKit), so the Dockerfile is built unchanged.
    """
    podman(
        "build", "--isolation=chroot", "--network", "host", "--format", "docker",
        "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        "--build-context", f"base=docker-image://{base}", "--build-arg", f"GIT_COMMIT={git_commit}",
        "-t", tag, str(context),
        timeout=1800,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s ({last})")


@contextlib.contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1; yields host:port."""
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (workdir / "registry.log").open("w")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/v2/", timeout=30, process=process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def running_container(image: str, port: int, *extra: str) -> Iterator[str]:
    """Run the image like Kubernetes will (read-only root, no capabilities); yield its name."""
    name = f"serve-test-{port}"
    podman(
        "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "--detach", "--name", name,
        "--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-e", f"PORT={port}", *extra, image,
    )  # fmt: skip
    try:
        yield name
    finally:
        podman("--runtime", "runc", "--cgroup-manager", "cgroupfs", "rm", "--force", name, check=False)


def registry_tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as response:
        return json.load(response)["tags"]


def have_tools() -> list[str]:
    return [tool for tool in ("podman", "runc", "debootstrap", "docker-registry") if not shutil.which(tool)]

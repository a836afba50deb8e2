"""Kubernetes manifests and the Dockerfile of the generated project: render, validate, scan.

No Kubernetes API server can run here, so verification stops just before `kubectl apply`:
`kubectl kustomize` renders each overlay (what `kubectl apply -k` would send), kubernetes-validate
checks the result against the API schemas, and checkov must report zero failed checks on the
rendered manifests and on the Dockerfile. Every checkov skip is inline, carries a reason, and is
counted here, so adding one is a visible change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import BIN, TEMPLATE, bake

OVERLAYS = ("staging", "production")
# Every inline checkov skip in the generated project: (file, check id). Reasons are required.
EXPECTED_SKIPS = {("Dockerfile", "CKV_DOCKER_7")}
KINDS = {
    "ServiceAccount",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}


def checkov_binary() -> str:
    """checkov's pins clash with the test venv, so it lives in its own venv (see requirements-checkov.txt)."""
    for candidate in (
        os.environ.get("CHECKOV"),
        str(TEMPLATE / ".venv-checkov/bin/checkov"),
        shutil.which("checkov"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(
        "checkov not found: python3 -m venv .venv-checkov && "
        ".venv-checkov/bin/pip install -r requirements-checkov.txt"
    )


@pytest.fixture(scope="module", params=["default", "custom"])
def project(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    answers = (
        {}
        if request.param == "default"
        else {"project_name": "Churn Model", "github_owner": "Acme-Corp", "k8s_namespace": "ml-serving"}
    )
    path = bake(tmp_path_factory.mktemp(f"k8s-{request.param}"), **answers)
    expected = {
        "slug": path.name,
        "owner": answers.get("github_owner", "jane-doe").lower(),  # image names are lowercase
        "namespace": answers.get("k8s_namespace", path.name),
    }
    return path, expected


def render(project: Path, overlay: str) -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(project / "k8s/overlays" / overlay)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rendered(project, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for overlay in OVERLAYS:
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(render(project[0], overlay))
    return files


def documents(path: Path) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(path.read_text()) if doc}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_a_locked_down_deployment(project, rendered, overlay):
    _, expected = project
    docs = documents(rendered[overlay])
    assert set(docs) == KINDS
    namespace = expected["namespace"] + ("-staging" if overlay == "staging" else "")
    assert {doc["metadata"]["namespace"] for doc in docs.values()} == {namespace}
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/instance"] == overlay for doc in docs.values())

    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert re.fullmatch(
        rf"ghcr\.io/{expected['owner']}/{expected['slug']}@sha256:[0-9a-f]{{64}}", container["image"]
    )
    assert pod["automountServiceAccountToken"] is False
    assert docs["ServiceAccount"]["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}

    selector = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind, match in (
        ("Service", docs["Service"]["spec"]["selector"]),
        ("PodDisruptionBudget", docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]),
        ("NetworkPolicy", docs["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]),
    ):
        assert match.items() <= labels.items(), f"{kind} does not select the pods"
    assert selector.items() <= labels.items()
    assert (
        docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == docs["Deployment"]["metadata"]["name"]
    )
    assert docs["NetworkPolicy"]["spec"]["egress"] == []


def test_overlays_differ_in_size(rendered):
    staging, production = (documents(rendered[o]) for o in OVERLAYS)
    assert production["Deployment"]["spec"]["replicas"] > staging["Deployment"]["spec"]["replicas"]
    assert (
        production["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
        > staging["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    )
    assert (
        production["PodDisruptionBudget"]["spec"]["minAvailable"]
        < production["Deployment"]["spec"]["replicas"]
    )


def test_rendered_manifests_pass_kubernetes_validate(rendered):
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", *map(str, rendered.values())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_finds_nothing_in_manifests_and_dockerfile(project, rendered):
    path, _ = project
    result = subprocess.run(
        [checkov_binary(), "--skip-download", "-o", "json",
         *(f"--file={file}" for file in rendered.values()), f"--file={path / 'Dockerfile'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    frameworks = {report["check_type"] for report in reports}
    assert {"kubernetes", "dockerfile"} <= frameworks, frameworks
    failed = [
        (check["check_id"], check["file_path"], check["resource"])
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    passed = sum(report["summary"]["passed"] for report in reports)
    assert passed > 150  # the scan really looked at the resources
    skipped = {
        (Path(check["file_path"]).name, check["check_id"])
        for report in reports
        for check in report["results"]["skipped_checks"]
    }
    assert skipped == EXPECTED_SKIPS
    assert all(
        check.get("check_result", {}).get("suppress_comment", "").strip()
        for report in reports
        for check in report["results"]["skipped_checks"]
    )


def test_inline_skips_are_counted_and_have_reasons(project):
    path, _ = project
    found = set()
    for file in path.rglob("*"):
        if file.is_file() and ".git" not in file.parts:
            for line in file.read_text(errors="ignore").splitlines():
                match = re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", line)
                if match:
                    assert (match.group(2) or "").strip(), (
                        f"{file}: skip of {match.group(1)} without a reason"
                    )
                    found.add((file.name, match.group(1)))
    assert found == EXPECTED_SKIPS


def test_dockerfile_has_no_hadolint_findings(project):
    path, _ = project
    result = subprocess.run([str(BIN / "hadolint"), str(path / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_dockerfile_base_image_follows_the_python_version(tmp_path):
    path = bake(tmp_path, python_version="3.13")
    dockerfile = (path / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.13-slim\n" in dockerfile
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2


def test_set_image_script_passes_shellcheck(project):
    path, _ = project
    result = subprocess.run(
        [str(BIN / "shellcheck"), str(path / "k8s/set-image.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout

"""The generated release workflow, run for real with act on a trained project.

Every `run:` step executes as written (DVC pull from a real local remote, tag computation,
set-image, git commit and push of the GitOps record to a local bare repository standing in for
GitHub). Stand-ins replace only what needs GitHub or a cluster: the docker actions record their
inputs (build-push answers a digest), and setup-kubectl installs a kubectl that renders what
`apply -k` would send (with the real `kubectl kustomize`) and answers `rollout status` as told.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from act_harness import make_stand_in, push_event, run_act, workflow_actions
from helpers import run, trained_copy

pytestmark = pytest.mark.slow

WORKFLOW = ".github/workflows/release.yml"
DIGEST = "sha256:" + "ab12" * 16
OWNER_REPO = "jane-doe/mlops-project"
IMAGE = f"ghcr.io/{OWNER_REPO}"

FAKE_KUBECTL = """#!/usr/bin/env bash
# Stand-in kubectl: logs every call; `apply -k` renders with the real kubectl instead of applying.
set -euo pipefail
state={state}
echo "$*" >> "$state/kubectl.log"
args=("$@")
if [ "${{args[0]}}" = "-n" ]; then args=("${{args[@]:2}}"); fi
case "${{args[0]}}" in
  kustomize) exec /usr/bin/kubectl "$@" ;;
  apply)
    n=$(ls "$state" | grep -c '^applied-' || true)
    /usr/bin/kubectl kustomize "${{args[2]}}" > "$state/applied-$((n + 1)).yaml"
    echo "deployment.apps/model-server configured" ;;
  rollout)
    if [ "${{args[1]}}" = status ] && [ -f "$state/rollout-fails" ]; then
      rm "$state/rollout-fails"
      echo "error: deployment \\"model-server\\" exceeded its progress deadline" >&2
      exit 1
    fi
    echo "deployment \\"model-server\\" ${{args[1]}} ok" ;;
  *) echo "unexpected kubectl call: $*" >&2; exit 3 ;;
esac
"""


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd).stdout.strip()


@pytest.fixture(scope="module")
def release_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory):
    """A trained project with a local DVC remote and a local bare repository as its GitHub."""
    root = tmp_path_factory.mktemp("release")
    project = trained_copy(trained_project, root / "mlops-project")
    run(["python", "-m", "dvc", "remote", "add", "--default", "local", str(root / "dvc-remote")], cwd=project)
    run(["python", "-m", "dvc", "push", "--quiet"], cwd=project)
    git(project, "commit", "-q", "-am", "Use a DVC remote")
    github = root / "github"
    bare = github / f"{OWNER_REPO}.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    # "GitHub" is the bare repository: the workflow's fetches and pushes of origin land there.
    # act names the repository (github.repository) after a second remote with the real URL.
    git(project, "remote", "add", "origin", str(bare))
    git(project, "remote", "add", "github", f"https://github.com/{OWNER_REPO}.git")
    git(project, "push", "-q", "origin", "main")
    return project, bare


def stand_ins(project: Path, state: Path) -> dict[str, Path]:
    """Stand-ins built in the run's state folder (so their records and outputs are kept)."""
    chosen: dict[str, Path] = {}
    for uses in workflow_actions(project):
        repo = uses.split("@")[0]
        if repo == "docker/build-push-action":
            chosen[uses] = make_stand_in(
                uses, "record", root=state / "own", outputs={"digest": DIGEST}, state_dir=state
            ).path
        elif repo == "azure/setup-kubectl":
            folder = state / "own" / "setup-kubectl"
            shim = folder / "bin"
            shim.mkdir(parents=True, exist_ok=True)
            (shim / "kubectl").write_text(FAKE_KUBECTL.format(state=state))
            (shim / "kubectl").chmod(0o755)
            (folder / "action.yml").write_text(yaml.safe_dump({
                "name": "stand-in for azure/setup-kubectl",
                "inputs": {"version": {"required": False}},
                "runs": {"using": "composite", "steps": [
                    {"run": f'echo "{shim}" >> "$GITHUB_PATH"', "shell": "bash"},
                ]},
            }))  # fmt: skip
            chosen[uses] = folder
    return chosen


def release(project: Path, ref: str, state: Path, rollout_fails: bool = False):
    state.mkdir(parents=True, exist_ok=True)
    if rollout_fails:
        (state / "rollout-fails").write_text("")
    return run_act(
        project,
        "push",
        WORKFLOW,
        event_payload=push_event(project, ref=ref),
        stand_ins=stand_ins(project, state),
        secrets={"KUBECONFIG": "apiVersion: v1\nkind: Config\n", "GITHUB_TOKEN": "test-token"},
        state_dir=state,
        timeout=1200,
        extra_args=("--remote-name", "github"),
    )


def applied(state: Path) -> list[dict]:
    files = sorted(state.glob("applied-*.yaml"))
    assert len(files) == 1, files
    return [doc for doc in yaml.safe_load_all(files[0].read_text()) if doc]


def deployed_image(docs: list[dict]) -> str:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def recorded(bare: Path, env: str) -> str:
    text = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"main:k8s/overlays/{env}/image.yaml"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]["image"]


def test_push_to_main_builds_pushes_and_deploys_staging(release_project, tmp_path):
    project, bare = release_project
    sha = git(project, "rev-parse", "HEAD")
    result = release(project, "refs/heads/main", tmp_path / "state")
    assert result.ok, result

    (build,) = result.calls_to("docker/build-push-action")
    inputs = build["inputs"]
    assert inputs["tags"].split() == [f"{IMAGE}:sha-{sha[:12]}", f"{IMAGE}:main"]
    assert inputs["push"] == "true" and inputs["context"] == "."
    assert (inputs["cache-from"], inputs["cache-to"]) == ("type=gha", "type=gha,mode=max")
    assert inputs["provenance"] == "mode=max" and inputs["sbom"] == "true"
    assert f"GIT_COMMIT={sha}" in inputs["build-args"]
    (login,) = result.calls_to("docker/login-action")
    assert login["inputs"]["registry"] == "ghcr.io"
    assert result.calls_to("docker/setup-buildx-action")
    (context,) = result.calls_to("azure/k8s-set-context")
    assert context["inputs"]["method"] == "kubeconfig" and context["inputs"]["kubeconfig"].startswith(
        "apiVersion"
    )

    docs = applied(tmp_path / "state")
    assert deployed_image(docs) == f"{IMAGE}@{DIGEST}"
    assert {d["metadata"]["namespace"] for d in docs} == {"mlops-project-staging"}
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "NetworkPolicy", "HorizontalPodAutoscaler"}
    calls = (tmp_path / "state" / "kubectl.log").read_text().splitlines()
    assert "apply -k k8s/overlays/staging" in calls
    assert "-n mlops-project-staging rollout status deployment/model-server --timeout=300s" in calls
    assert not any("undo" in call for call in calls)

    # GitOps: the digest is committed to main on "GitHub"; production is untouched.
    assert recorded(bare, "staging") == f"{IMAGE}@{DIGEST}"
    assert recorded(bare, "production").endswith("@sha256:" + "0" * 64)
    message = subprocess.run(
        ["git", "--git-dir", str(bare), "log", "-1", "--format=%s%n%an", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    assert message[0] == f"deploy(staging): {IMAGE}@{DIGEST} [skip ci]"
    assert message[1] == "github-actions[bot]"
    summary = "\n".join(result.summaries.values())
    assert f"{IMAGE}@{DIGEST}" in summary


def test_version_tag_deploys_production(release_project, tmp_path):
    project, bare = release_project
    git(project, "tag", "v1.2.0")
    sha = git(project, "rev-parse", "HEAD")
    result = release(project, "refs/tags/v1.2.0", tmp_path / "state")
    assert result.ok, result
    (build,) = result.calls_to("docker/build-push-action")
    assert build["inputs"]["tags"].split() == [f"{IMAGE}:sha-{sha[:12]}", f"{IMAGE}:v1.2.0"]
    docs = applied(tmp_path / "state")
    assert {d["metadata"]["namespace"] for d in docs} == {"mlops-project"}
    production = next(d for d in docs if d["kind"] == "Deployment")
    assert production["spec"]["replicas"] == 3
    assert recorded(bare, "production") == f"{IMAGE}@{DIGEST}"


def test_failed_rollout_is_undone_and_not_recorded(release_project, tmp_path):
    project, bare = release_project
    head_before = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (project / "README.md").write_text((project / "README.md").read_text() + "\nA change.\n")
    git(project, "commit", "-q", "-am", "Change the README")
    result = release(project, "refs/heads/main", tmp_path / "state", rollout_fails=True)
    assert not result.ok
    assert result.jobs.get("image") == "success"
    calls = (tmp_path / "state" / "kubectl.log").read_text().splitlines()
    assert "-n mlops-project-staging rollout undo deployment/model-server" in calls
    head_after = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert head_after == head_before  # nothing recorded: Git still names what runs


def test_set_image_rejects_a_reference_without_digest(release_project, tmp_path):
    project, _ = release_project
    script = project / "k8s/set-image.sh"
    bad = subprocess.run([str(script), "k8s/overlays/staging", f"{IMAGE}:latest"], cwd=project,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "not an image by digest" in bad.stderr
    missing = subprocess.run([str(script), "k8s/overlays/nowhere", f"{IMAGE}@{DIGEST}"], cwd=project,
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "kustomization.yaml" in missing.stderr

"""The generated deploy workflow (the cluster follows Git), run for real with act.

Every `run:` step executes as written: the branch guard, the choice of environments from the
pushed commits, the readiness checks (`k8s/set-image.sh --show`), `kubectl kustomize` of the
overlay, the revert of a failed change with git. There is no Kubernetes API server here, so
setup-kubectl is the harness's `kubectl_stand_in`, a recording `kubectl` on PATH: `kustomize` is
the real kubectl's, `diff` answers a diff, `apply` keeps exactly the manifests it was sent, and
`rollout status` succeeds or fails as a test asks. Artifacts and pull requests are the act
harness's stand-ins.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from act_harness import kubectl_stand_in, push_event, run_act
from helpers import bake, commit, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy")]

WORKFLOW = ".github/workflows/deploy.yml"
IMAGE = "ghcr.io/jane-doe/mlops-project"
DIGEST = "sha256:" + "c0de" * 16
SETUP_KUBECTL = "azure/setup-kubectl@829323503d1be3d00ca8346e5391ca0b07a9ab0d"


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd).stdout.strip()


@pytest.fixture(scope="module")
def gitops_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default bake in git, as pushed: only its k8s/ and workflows matter here."""
    project = bake(tmp_path_factory.mktemp("deploy"))
    git(project, "init", "-q", "--initial-branch=main")
    commit(project, "Initial commit")
    git(project, "remote", "add", "origin", "https://github.com/jane-doe/mlops-project.git")
    return project


def copy(project: Path, destination: Path) -> Path:
    subprocess.run(["cp", "-a", str(project), str(destination)], check=True)
    return destination


def deploy(project: Path, state: Path, event: str = "push", payload: dict | None = None,
           kubeconfig: bool = True, rollout_fails: bool = False):  # fmt: skip
    state.mkdir(parents=True, exist_ok=True)
    if rollout_fails:
        (state / "rollout-fails").write_text("")
    secrets = {"GITHUB_TOKEN": "the-job-token"}
    if kubeconfig:
        secrets["KUBECONFIG"] = "apiVersion: v1\nkind: Config\n"
    return run_act(
        project,
        event,
        WORKFLOW,
        event_payload=payload or push_event(project),
        stand_ins={SETUP_KUBECTL: kubectl_stand_in(state)},
        secrets=secrets,
        state_dir=state,
        timeout=600,
    )


def merge_staging_promotion(project: Path) -> str:
    """What merging the deploy/staging pull request pushes; returns the commit before it."""
    before = git(project, "rev-parse", "HEAD")
    run(["k8s/set-image.sh", "k8s/overlays/staging", f"{IMAGE}@{DIGEST}"], cwd=project)
    commit(project, "deploy(staging): promote")
    return before


def kubectl_calls(state: Path) -> list[str]:
    log = state / "kubectl.log"
    return log.read_text().splitlines() if log.exists() else []


def test_merged_promotion_applies_exactly_the_staging_overlay(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    merge_staging_promotion(project)
    state = tmp_path / "state"
    result = deploy(project, state)
    assert result.ok, result
    applied = sorted(state.glob("applied-*.yaml"))
    assert len(applied) == 1, applied  # staging only: production's overlay did not change
    expected = subprocess.run(["kubectl", "kustomize", str(project / "k8s/overlays/staging")],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert applied[0].read_text() == expected  # exactly what Git renders, nothing else
    docs = [d for d in yaml.safe_load_all(expected) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{DIGEST}"
    calls = kubectl_calls(state)
    assert any(c.startswith("diff --server-side -f ") for c in calls)
    assert any(c.startswith("apply --server-side --field-manager=github-deploy -f ") for c in calls)
    assert "-n mlops-project-staging rollout status deployment/model-server --timeout=300s" in calls
    assert not any("undo" in c for c in calls)
    summary = "\n".join(result.summaries.values())
    assert "staging: `kubectl diff`" in summary and "+  image: new" in summary
    assert f"Deployed to staging: `{IMAGE}@{DIGEST}`" in summary
    assert not result.calls_to("docker/") and result.pulls() == {}  # nothing built, nothing reverted


def test_a_cluster_without_the_operator_crds_is_told_what_to_do_before_any_apply(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    merge_staging_promotion(project)
    state = tmp_path / "state"
    state.mkdir()
    (state / "no-monitoring-crds").write_text("")
    result = deploy(project, state)
    assert not result.ok, result
    calls = kubectl_calls(state)
    assert "explain ServiceMonitor --api-version=monitoring.coreos.com/v1" in calls
    assert not any(c.startswith(("diff", "apply")) for c in calls) and not list(state.glob("applied-*"))
    missing = "monitoring.coreos.com/v1 PrometheusRule, monitoring.coreos.com/v1 ServiceMonitor."
    assert f"the cluster does not serve {missing}" in result.told, result
    assert "install it" in result.told


def test_failed_rollout_is_undone_and_reverted_by_pull_request(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    before = merge_staging_promotion(project)
    change = git(project, "rev-parse", "HEAD")
    state = tmp_path / "state"
    result = deploy(project, state, rollout_fails=True)
    assert not result.ok, result
    assert result.jobs.get("revert") == "success", result.jobs
    assert "-n mlops-project-staging rollout undo deployment/model-server" in kubectl_calls(state)
    assert f"{IMAGE}@{DIGEST} did not become ready in staging within 300s" in result.told, result
    pull = result.pulls()["revert/deploy"]
    overlay = "k8s/overlays/staging/kustomization.yaml"
    assert pull["changed_files"] == [overlay]
    previous = git(project, "show", f"{before}:{overlay}")
    assert pull["files"][overlay].strip() == previous.strip()  # Git says again what runs
    assert change in pull["body"] and "did not become ready" in pull["body"]


def test_without_cluster_credentials_the_deploy_is_skipped_and_green(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    merge_staging_promotion(project)
    state = tmp_path / "state"
    result = deploy(project, state, kubeconfig=False)
    assert result.ok, result
    summary = "\n".join(result.summaries.values())
    assert "add the secret KUBECONFIG to the 'staging' environment" in summary
    assert kubectl_calls(state) == []


def test_dispatch_from_a_feature_branch_is_refused(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    git(project, "checkout", "-q", "-b", "feature")
    payload = {**push_event(project, ref="refs/heads/feature"), "inputs": {"environment": "staging"}}
    state = tmp_path / "state"
    result = deploy(project, state, event="workflow_dispatch", payload=payload)
    assert not result.ok, result
    assert result.jobs.get("plan") == "failure"
    assert "deploys run from main only" in result.told, result
    assert kubectl_calls(state) == []


def test_dispatch_before_anything_was_promoted_skips_with_a_notice(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    payload = {**push_event(project), "inputs": {"environment": "production"}}
    state = tmp_path / "state"
    result = deploy(project, state, event="workflow_dispatch", payload=payload)
    assert result.ok, result
    assert "no image promoted to production yet" in "\n".join(result.summaries.values())
    assert kubectl_calls(state) == []

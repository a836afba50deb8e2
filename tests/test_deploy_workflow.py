"""The generated deploy workflow (the cluster follows Git), run for real with act.

Every `run:` step executes as written: the branch guard, the choice of environments from the
pushed commits, the readiness checks (`k8s/show-image.sh`), `kubectl kustomize` of the
overlay, the revert of a failed change with git. There is no Kubernetes API server here, so
setup-kubectl is the harness's `kubectl_stand_in`, a recording `kubectl` on PATH: `kustomize` is
the real kubectl's, `diff` answers a diff, `apply` keeps exactly the manifests it was sent, and
`rollout status` succeeds or fails as a test asks. Artifacts and pull requests are the act
harness's stand-ins, and GitHub's Deployments API (where the workflow records each apply and
reads each environment's last successful one) is the harness's local server that answers as
GitHub's REST docs say.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import KUBECTL, bake, commit, git, set_image
from template_support.act import ConcurrencyGroup, GitHubDeployments, kubectl_stand_in, push_event, run_act

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy")]

WORKFLOW = ".github/workflows/deploy.yml"
REPO = "jane-doe/mlops-project"
IMAGE = f"ghcr.io/{REPO}"
DIGEST = "sha256:" + "c0de" * 16
STAGING = "k8s/overlays/staging/kustomization.yaml"
PRODUCTION = "k8s/overlays/production/kustomization.yaml"
SETUP_KUBECTL = "azure/setup-kubectl@829323503d1be3d00ca8346e5391ca0b07a9ab0d"


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
           kubeconfig: bool = True, rollout_fails: bool = False, apply_fails: bool = False):  # fmt: skip
    """One run of deploy.yml; the Deployments API's records stay in ``state`` between runs."""
    state.mkdir(parents=True, exist_ok=True)
    if rollout_fails:
        (state / "rollout-fails").write_text("")
    if apply_fails:
        (state / "apply-fails").write_text("")
    secrets = {"GITHUB_TOKEN": "the-job-token"}
    if kubeconfig:
        secrets["KUBECONFIG"] = "apiVersion: v1\nkind: Config\n"
    with GitHubDeployments(state) as api:
        return run_act(
            project,
            event,
            WORKFLOW,
            event_payload=payload or push_event(project),
            stand_ins={SETUP_KUBECTL: kubectl_stand_in(state)},
            secrets=secrets,
            env={"GITHUB_API_URL": api.url},
            state_dir=state,
            timeout=600,
        )


def digest(n: int) -> str:
    return "sha256:" + f"{n:04x}" * 16


def promote(project: Path, env: str, image_digest: str = DIGEST) -> str:
    """What merging a deploy/<env> pull request pushes; returns the new commit."""
    set_image(project, env, f"{IMAGE}@{image_digest}")
    commit(project, f"deploy({env}): {image_digest}")
    return git(project, "rev-parse", "HEAD")


def merge_staging_promotion(project: Path) -> str:
    """What merging the deploy/staging pull request pushes; returns the commit before it."""
    before = git(project, "rev-parse", "HEAD")
    promote(project, "staging")
    return before


def applies(state: Path, env: str) -> list[tuple[str, str, str]]:
    """(commit, image, newest state) of each apply deploy.yml recorded for ``env``, oldest first."""
    return [
        (d["sha"], d["payload"]["image"], d["statuses"][-1]["state"])
        for d in GitHubDeployments(state).deployments(env)
        if d["task"] == "deploy:apply"
    ]


def deploy_jobs(result) -> list[str]:
    """The environments whose deploy job started in a run (each would ask its approval)."""
    started = []
    for event in result.events:
        env = (event.get("matrix") or {}).get("environment")
        if event.get("jobID") == "deploy" and env and env not in started:
            started.append(env)
    return started


def applied_images(state: Path) -> list[tuple[str, str]]:
    """(namespace, image) of every manifest set the stand-in kubectl applied, in order."""
    out = []
    for path in sorted(state.glob("applied-*.yaml"), key=lambda p: int(p.stem.split("-")[1])):
        (deployment,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Deployment"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        out.append((deployment["metadata"]["namespace"], image))
    return out


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
    expected = subprocess.run([KUBECTL, "kustomize", str(project / "k8s/overlays/staging")],
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
    # The apply is recorded where GitHub keeps deployments; production, unchanged, was not asked.
    sha = git(project, "rev-parse", "HEAD")
    assert applies(state, "staging") == [(sha, f"{IMAGE}@{DIGEST}", "success")]
    assert applies(state, "production") == []
    assert "production: never applied, nothing promoted yet" in summary


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
    pulls = result.pulls()
    assert list(pulls) == ["revert/deploy"] and pulls["revert/deploy"]["creates"] == 1
    pull = pulls["revert/deploy"]
    overlay = STAGING
    assert pull["changed_files"] == [overlay]
    previous = git(project, "show", f"{before}:{overlay}")
    assert pull["files"][overlay].strip() == previous.strip()  # Git says again what runs
    assert pull["title"] == f"Revert the failed deploy of {change} to staging"
    assert f"**staging** at {change}" in pull["body"] and "did not become ready" in pull["body"]
    assert change[:7] in pull["body"]
    assert applies(state, "staging") == [(change, f"{IMAGE}@{DIGEST}", "failure")]


def test_failed_apply_undoes_nothing_and_opens_no_revert(gitops_repo, tmp_path):
    """diff, apply or credentials failing changes nothing in the cluster: Git is not reverted."""
    project = copy(gitops_repo, tmp_path / "mlops-project")
    merge_staging_promotion(project)
    state = tmp_path / "state"
    result = deploy(project, state, apply_fails=True)
    assert not result.ok, result
    assert result.jobs.get("revert") == "success", result.jobs
    assert result.pulls() == {}
    assert "Nothing to revert" in result.told and "nothing is reverted" in result.told, result
    assert not any("rollout" in c for c in kubectl_calls(state))
    sha = git(project, "rev-parse", "HEAD")
    assert applies(state, "staging") == [(sha, f"{IMAGE}@{DIGEST}", "failure")]


def test_a_staging_failure_stops_production_in_the_same_run(gitops_repo, tmp_path):
    project = copy(gitops_repo, tmp_path / "mlops-project")
    set_image(project, "staging", f"{IMAGE}@{digest(1)}")
    set_image(project, "production", f"{IMAGE}@{digest(1)}")
    commit(project, "Promote to both environments")
    state = tmp_path / "state"
    result = deploy(project, state, rollout_fails=True)
    assert not result.ok, result
    # Production's job ran after staging's, saw staging's failed deploy of this commit, and stopped
    # before touching the cluster: nothing applied, nothing recorded.
    assert applied_images(state) == [("mlops-project-staging", f"{IMAGE}@{digest(1)}")]
    assert applies(state, "production") == []
    assert "staging's deploy of this commit ended 'failure': production is not deployed" in result.told
    (pull,) = result.pulls().values()
    assert pull["title"].endswith(" to staging") and pull["changed_files"] == [STAGING]


def test_a_cancelled_run_is_deployed_by_the_next_and_production_is_asked_only_when_it_changed(
    gitops_repo, tmp_path
):
    """Three quick pushes: GitHub cancels the pending middle run when the third arrives (its
    concurrency rule, ConcurrencyGroup). The third run still applies the middle push's production
    change, because each environment is compared with its last successful apply."""
    project = copy(gitops_repo, tmp_path / "mlops-project")
    state = tmp_path / "state"
    set_image(project, "staging", f"{IMAGE}@{digest(1)}")
    first = promote(project, "production", digest(1))
    assert deploy(project, state).ok  # both never applied, both promoted: both deployed
    assert [a[0] for a in applies(state, "production")] == [first]

    group = ConcurrencyGroup()
    promote(project, "staging", digest(2))
    assert group.arrive("push 1") is None  # starts at once
    push_1 = deploy(project, state)
    assert push_1.ok, push_1
    # Only staging changed: production's job (and its environment's approval) was not asked for.
    assert deploy_jobs(push_1) == ["staging"]
    assert [a[0] for a in applies(state, "production")] == [first]
    assert "production: unchanged since its last apply" in "\n".join(push_1.summaries.values())

    promote(project, "production", digest(3))
    assert group.arrive("push 2") is None  # pending behind push 1
    last = promote(project, "staging", digest(4))
    assert group.arrive("push 3") == "push 2"  # the pending middle run is cancelled
    assert group.finish() == "push 3"
    push_3 = deploy(project, state)  # its event's `before` is push 2's commit
    assert push_3.ok, push_3
    assert deploy_jobs(push_3) == ["staging", "production"]
    assert group.started == ["push 1", "push 3"]

    # Both environments end on the last commit's digests.
    final = dict(applied_images(state))
    assert final == {
        "mlops-project-staging": f"{IMAGE}@{digest(4)}",
        "mlops-project": f"{IMAGE}@{digest(3)}",  # production's namespace
    }
    assert applies(state, "production")[-1] == (last, f"{IMAGE}@{digest(3)}", "success")
    assert applies(state, "staging")[-1] == (last, f"{IMAGE}@{digest(4)}", "success")
    # GitHub marks the superseded staging applies inactive (auto_inactive; not for production).
    assert [a[2] for a in applies(state, "staging")] == ["inactive", "inactive", "success"]
    assert [a[2] for a in applies(state, "production")] == ["success", "success"]


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


def deployments_sh(project: Path, api: GitHubDeployments, *args: str, token: str = "the-job-token"):
    env = {"PATH": "/usr/bin:/bin", "GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": REPO,
           "GH_TOKEN": token, "GITHUB_SHA": "a" * 40, "GITHUB_RUN_ID": "7"}  # fmt: skip
    script = [".github/deployments.sh", *args]
    return subprocess.run(script, cwd=project, env=env, capture_output=True, text=True)


def test_deployments_script_against_the_api_as_github_documents_it(gitops_repo, tmp_path):
    """.github/deployments.sh, without act: each answer is what GitHub's REST docs describe."""
    image = f"{IMAGE}@{DIGEST}"
    with GitHubDeployments(tmp_path / "state") as api:
        assert deployments_sh(gitops_repo, api, "last-applied", "staging").stdout == ""
        assert deployments_sh(gitops_repo, api, "ran", "staging", image).returncode == 1
        created = deployments_sh(gitops_repo, api, "create", "staging", image)
        assert created.returncode == 0, created.stderr
        deployment_id = created.stdout.strip()
        assert deployments_sh(gitops_repo, api, "outcome", "staging", "a" * 40).stdout == "in_progress\n"
        assert deployments_sh(gitops_repo, api, "last-applied", "staging").stdout == ""  # not yet
        assert deployments_sh(gitops_repo, api, "status", deployment_id, "success", "Applied").returncode == 0
        assert deployments_sh(gitops_repo, api, "last-applied", "staging").stdout == "a" * 40 + "\n"
        assert deployments_sh(gitops_repo, api, "ran", "staging", image).returncode == 0
        assert deployments_sh(gitops_repo, api, "ran", "production", image).returncode == 1
        assert deployments_sh(gitops_repo, api, "ran", "staging", f"{IMAGE}@{digest(5)}").returncode == 1
        (stored,) = api.deployments("staging")
        assert stored["task"] == "deploy:apply" and stored["payload"] == {"image": image}
        assert [s["state"] for s in stored["statuses"]] == ["in_progress", "success"]
        assert stored["statuses"][-1]["log_url"].endswith(f"/{REPO}/actions/runs/7")

        refused = deployments_sh(gitops_repo, api, "status", deployment_id, "done")
        assert refused.returncode == 3 and "Validation Failed" in refused.stderr
        no_token = deployments_sh(gitops_repo, api, "last-applied", "staging", token=" ")
        assert no_token.returncode == 3 and "Requires authentication" in no_token.stderr
        assert "deployments' permission" in no_token.stderr
        usage = deployments_sh(gitops_repo, api, "ran", "staging")
        assert usage.returncode == 2 and "deployments.sh ran ENV IMAGE" in usage.stderr

"""The generated release workflow (build once, promote by pull request), run for real with act.

Every `run:` step executes as written: the release plan, `dvc pull` from a real local DVC remote
(or the reproduction of the model) and its check against dvc.lock, the image tags,
`kustomize edit set image` (the real kustomize, as GitHub's runners ship it) and
`kubectl kustomize` on the overlays, the pull-request bodies. Stand-ins
replace only what needs GitHub or a registry: the docker actions and the attestation record their
inputs (build-push answers a digest), create-pull-request keeps ONE pull request per branch
(template_support.act), the App token answers a token, `gh` (auto-merge) is a recording script, and
GitHub's Deployments API (asked whether staging ran a digest) is the harness's local server that
answers as GitHub's REST docs say.
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

from helpers import (
    KUBECTL,
    TOOLS_PATH,
    bake_and_train,
    commit,
    git,
    require_kustomize,
    run,
    set_image,
    trained_copy,
)
from template_support.act import ConcurrencyGroup, GitHubDeployments, make_stand_in, push_event, run_act

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("release")]

WORKFLOW = ".github/workflows/release.yml"
OWNER_REPO = "jane-doe/mlops-project"
IMAGE = f"ghcr.io/{OWNER_REPO}"
BUILD = "docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a"
APP_TOKEN = "actions/create-github-app-token@1b10c78c7865c340bc4f6099eb2f838309f1e8c3"
CREATE_PR = "peter-evans/create-pull-request@5f6978faf089d4d20b00c7766989d076bb2fc7f1"
STAGING = "k8s/overlays/staging/kustomization.yaml"
PRODUCTION = "k8s/overlays/production/kustomization.yaml"


def digest(n: int) -> str:
    return "sha256:" + f"{n:04x}" * 16


@pytest.fixture(scope="module")
def release_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained project with a local DVC remote holding its model, named jane-doe/mlops-project."""
    require_kustomize()  # the promotion steps run `kustomize edit set image`
    root = tmp_path_factory.mktemp("release")
    project = trained_copy(trained_project, root / "mlops-project")
    run(["python", "-m", "dvc", "remote", "add", "--default", "local", str(root / "dvc-remote")], cwd=project)
    run(["python", "-m", "dvc", "push", "--quiet"], cwd=project)
    git(project, "commit", "-q", "--no-verify", "-am", "Use a DVC remote")
    git(project, "remote", "add", "origin", f"https://github.com/{OWNER_REPO}.git")
    return project


def release(project: Path, state: Path, ref: str = "refs/heads/main", build_digest: str = digest(1),
            event: str = "push", payload: dict | None = None, vars: dict | None = None,
            env: dict | None = None, pull_requests_allowed: bool = True):  # fmt: skip
    stand_ins = {
        BUILD: make_stand_in(BUILD, outputs={"digest": build_digest}),
        APP_TOKEN: make_stand_in(APP_TOKEN, outputs={"token": "ghs_from_the_app"}),
    }
    if not pull_requests_allowed:  # a new repository: GitHub refuses the pull request
        stand_ins[CREATE_PR] = make_stand_in(CREATE_PR, "record", exit_code=1)
    with GitHubDeployments(state) as api:
        return run_act(
            project,
            event,
            WORKFLOW,
            event_payload=payload or push_event(project, ref=ref),
            stand_ins=stand_ins,
            secrets={"GITHUB_TOKEN": "the-job-token"},
            vars=vars,
            env={"GITHUB_API_URL": api.url, **(env or {})},
            state_dir=state,
            timeout=1200,
        )


def staging_applied(state: Path, commit_sha: str, image: str, *states: str) -> None:
    """What deploy.yml records in GitHub's Deployments API when it applies ``image`` to staging."""
    GitHubDeployments(state).record(OWNER_REPO, "staging", commit_sha, image, "in_progress", *states)


def rendered_image(project: Path, overlay_text: str, env: str) -> str:
    """Render an overlay whose kustomization.yaml is ``overlay_text`` (a PR's file) with kubectl."""
    work = project.parent / f"render-{env}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(project / "k8s", work / "k8s")
    (work / f"k8s/overlays/{env}/kustomization.yaml").write_text(overlay_text)
    out = subprocess.run([KUBECTL, "kustomize", str(work / f"k8s/overlays/{env}")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    (deployment,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def images_field(overlay_text: str) -> list[dict]:
    return yaml.safe_load(overlay_text)["images"]


def test_push_to_main_builds_once_and_keeps_one_staging_promotion_pr(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    state = tmp_path / "state"
    sha = git(project, "rev-parse", "HEAD")
    result = release(project, state)
    assert result.ok, result
    assert result.jobs.get("promote-production") in (None, "skipped"), result.jobs

    (build,) = result.calls_to("docker/build-push-action")
    inputs = build["inputs"]
    assert inputs["tags"].split() == [f"{IMAGE}:sha-{sha[:12]}", f"{IMAGE}:main"]
    assert inputs["push"] == "true" and inputs["context"] == "."
    # The published image restores no cache another workflow could have written.
    assert inputs["no-cache"] == "true" and "cache-from" not in inputs and "cache-to" not in inputs
    assert inputs["provenance"] == "mode=max" and inputs["sbom"] == "true"
    (attest,) = result.calls_to("actions/attest-build-provenance")
    assert attest["inputs"]["subject-name"] == IMAGE and attest["inputs"]["subject-digest"] == digest(1)
    assert attest["inputs"]["push-to-registry"] == "true"
    summary = "\n".join(result.summaries.values())
    assert (
        f"gh attestation verify oci://{IMAGE}@{digest(1)} --repo {OWNER_REPO} "
        f"--signer-workflow {OWNER_REPO}/.github/workflows/release.yml --source-ref refs/heads/main"
    ) in summary

    pull = result.pulls()["deploy/staging"]
    assert (pull["creates"], pull["updates"]) == (1, 0)
    assert pull["changed_files"] == [STAGING] and pull["labels"] == ["deploy"]
    assert pull["token"] == "the-job-token"  # no App, no BOT_TOKEN: GITHUB_TOKEN, limits documented
    assert images_field(pull["files"][STAGING]) == [{"name": IMAGE, "digest": digest(1)}]
    # The overlay is laid out as kustomize writes it: the pull request changes the digest line only.
    before, after = (project / STAGING).read_text().splitlines(), pull["files"][STAGING].splitlines()
    assert [(old, new) for old, new in zip(before, after, strict=True) if old != new] == [
        (f"- digest: sha256:{'0' * 64}", f"- digest: {digest(1)}")
    ]
    assert rendered_image(project, pull["files"][STAGING], "staging") == f"{IMAGE}@{digest(1)}"
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = lock["stages"]["train"]["outs"]
    model_md5 = next(o["md5"] for o in outs if o["path"].startswith("models/model"))
    metrics = json.loads((project / "metrics.json").read_text())
    assert sha in pull["body"] and f"md5:{model_md5}" in pull["body"]
    assert f'"{next(iter(metrics))}"' in pull["body"]  # the metrics of the model it carries
    assert not result.calls_to("actions/create-github-app-token")

    # A second push: one build again, and the SAME pull request is updated (with the App's token,
    # auto-merge asked for).
    (project / "README.md").write_text((project / "README.md").read_text() + "\nA change.\n")
    commit(project, "Change the README")
    gh = tmp_path / "gh-stub"
    gh.mkdir()
    (gh / "gh").write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/gh.log"\n')
    (gh / "gh").chmod(0o755)
    second = release(project, state, build_digest=digest(2),
                     vars={"BOT_APP_CLIENT_ID": "Iv1.123", "STAGING_AUTO_MERGE": "true"},
                     env={"PATH": os.pathsep.join([str(gh), TOOLS_PATH, os.environ["PATH"]])})  # fmt: skip
    assert second.ok, second
    assert len(second.calls_to("docker/build-push-action")) == 1
    pulls = second.pulls()
    assert list(pulls) == ["deploy/staging"]
    pull = pulls["deploy/staging"]
    assert (pull["creates"], pull["updates"], pull["number"]) == (1, 1, 101)
    assert images_field(pull["files"][STAGING]) == [{"name": IMAGE, "digest": digest(2)}]
    assert pull["token"] == "ghs_from_the_app"
    assert (tmp_path / "gh.log").read_text().split() == ["pr", "merge", "--auto", "--squash", "101",
                                                         "--repo", OWNER_REPO]  # fmt: skip


def test_a_model_that_differs_from_dvc_lock_stops_the_release(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    lock_file = project / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text())
    for out in lock["stages"]["train"]["outs"]:
        if out["path"].startswith("models/model"):
            out["md5"] = "0" * 32  # a model nobody trained: not in the remote, not reproducible
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    commit(project, "A dvc.lock that names another model")
    result = release(project, tmp_path / "state")
    assert not result.ok, result
    assert result.jobs.get("image") == "failure"
    assert "Model differs from dvc.lock" in result.told, result
    assert not result.calls_to("docker/build-push-action") and result.pulls() == {}


def promote_staging_by_merge(project: Path, ref: str) -> None:
    """What merging a deploy/staging pull request leaves on main."""
    set_image(project, "staging", ref)
    commit(project, f"deploy(staging): {ref}")


def test_version_tag_promotes_staging_digest_to_production_without_building(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    promote_staging_by_merge(project, f"{IMAGE}@{digest(7)}")
    staging_commit = git(project, "rev-parse", "HEAD")
    staging_applied(tmp_path / "state", staging_commit, f"{IMAGE}@{digest(7)}", "success")
    git(project, "tag", "v1.2.3")
    result = release(project, tmp_path / "state", ref="refs/tags/v1.2.3")
    assert result.ok, result
    assert result.jobs.get("image") in (None, "skipped"), result.jobs
    assert not result.calls_to("docker/")
    pull = result.pulls()["deploy/production"]
    assert pull["changed_files"] == [PRODUCTION] and pull["title"] == "deploy(production): v1.2.3"
    assert images_field(pull["files"][PRODUCTION]) == [{"name": IMAGE, "digest": digest(7)}]
    assert rendered_image(project, pull["files"][PRODUCTION], "production") == f"{IMAGE}@{digest(7)}"
    assert staging_commit in pull["body"] and "v1.2.3" in pull["body"]
    assert "Staging ran this digest successfully" in pull["body"]
    assert "`production` environment's reviewers approve" in pull["body"]


def test_version_tag_refuses_a_digest_staging_did_not_run(release_project, tmp_path):
    """Staging's overlay names a digest whose deploy failed (an older one succeeded): no PR."""
    project = trained_copy(release_project, tmp_path / "mlops-project")
    state = tmp_path / "state"
    promote_staging_by_merge(project, f"{IMAGE}@{digest(6)}")
    staging_applied(state, git(project, "rev-parse", "HEAD"), f"{IMAGE}@{digest(6)}", "success")
    promote_staging_by_merge(project, f"{IMAGE}@{digest(7)}")
    staging_applied(state, git(project, "rev-parse", "HEAD"), f"{IMAGE}@{digest(7)}", "failure")
    git(project, "tag", "v1.2.4")
    result = release(project, state, ref="refs/tags/v1.2.4")
    assert not result.ok, result
    assert result.jobs.get("promote-production") == "failure", result.jobs
    assert f"staging has not run {IMAGE}@{digest(7)} successfully" in result.told, result
    assert "Deploy it to staging first" in result.told
    assert result.pulls() == {}


def concurrency_groups(project: Path, ref: str, version: str = "") -> list[str]:
    """The concurrency groups a run of release.yml, and its production promotion, join: the
    workflow's and the promote-production job's, with the run's ``github.ref`` and
    ``inputs.version`` put in (the only contexts they use)."""
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    values = {"github.ref": ref, "inputs.version": version}

    def evaluate(group: str) -> str:
        def value(match: re.Match) -> str:
            return values[match.group(1)]  # KeyError: a context this test does not model

        return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", value, group)

    groups = [evaluate(workflow["concurrency"]["group"])]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job = workflow["jobs"]["promote-production"]["concurrency"]
    assert job["cancel-in-progress"] is False  # a pending promotion waits, never cancels the running one
    return [*groups, evaluate(job["group"])]


def test_concurrency_keeps_every_promotion_and_serializes_production(release_project):
    """GitHub's concurrency rule (ConcurrencyGroup) applied to the groups release.yml declares."""
    push, dispatch = "refs/heads/main", "refs/heads/main"
    build_1, build_2 = concurrency_groups(release_project, push), concurrency_groups(release_project, push)
    version = concurrency_groups(release_project, dispatch, "v1.2.3")
    tag_1 = concurrency_groups(release_project, "refs/tags/v1.2.3")
    tag_2 = concurrency_groups(release_project, "refs/tags/v1.2.4")

    # A build runs; a version dispatch from main waits behind nothing of it; a later push to main
    # cancels neither the dispatch nor the running build.
    groups: dict[str, ConcurrencyGroup] = {}
    assert groups.setdefault(build_1[0], ConcurrencyGroup()).arrive("build 1") is None
    assert groups.setdefault(version[0], ConcurrencyGroup()).arrive("dispatch v1.2.3") is None
    assert groups.setdefault(build_2[0], ConcurrencyGroup()).arrive("build 2") is None
    assert all(not g.cancelled for g in groups.values())
    assert "dispatch v1.2.3" in groups[version[0]].started

    # Two tags: their production promotions share one group: the second waits for the first.
    assert tag_1[1] == tag_2[1] == version[1]
    production = ConcurrencyGroup()
    assert production.arrive("v1.2.3") is None and production.running == "v1.2.3"
    assert production.arrive("v1.2.4") is None and production.pending == "v1.2.4"
    assert production.finish() == "v1.2.4" and production.cancelled == []


def test_version_tag_with_nothing_in_staging_fails_with_the_cause(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    git(project, "tag", "v0.1.0")
    result = release(project, tmp_path / "state", ref="refs/tags/v0.1.0")
    assert not result.ok, result
    assert "staging has no image yet: merge a deploy/staging pull request first" in result.told, result
    assert result.pulls() == {}


def test_dispatch_from_a_feature_branch_is_refused(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    git(project, "checkout", "-q", "-b", "feature")
    payload = {**push_event(project, ref="refs/heads/feature"), "inputs": {"version": ""}}
    result = release(project, tmp_path / "state", event="workflow_dispatch", payload=payload)
    assert not result.ok, result
    assert result.jobs.get("plan") == "failure"
    assert "releases run from main or a v* tag only, not refs/heads/feature" in result.told, result
    assert not result.calls_to("docker/") and result.pulls() == {}


def test_dispatch_with_a_version_from_main_promotes_and_a_bad_version_is_refused(release_project, tmp_path):
    project = trained_copy(release_project, tmp_path / "mlops-project")
    promote_staging_by_merge(project, f"{IMAGE}@{digest(9)}")
    staging_applied(tmp_path / "state", git(project, "rev-parse", "HEAD"), f"{IMAGE}@{digest(9)}", "success")
    payload = {**push_event(project), "inputs": {"version": "v2.0.0"}}
    result = release(project, tmp_path / "state", event="workflow_dispatch", payload=payload)
    assert result.ok, result
    assert not result.calls_to("docker/")
    pull = result.pulls()["deploy/production"]
    assert pull["title"] == "deploy(production): v2.0.0"
    assert images_field(pull["files"][PRODUCTION]) == [{"name": IMAGE, "digest": digest(9)}]

    payload = {**push_event(project), "inputs": {"version": "2.0"}}
    bad = release(project, tmp_path / "state-bad", event="workflow_dispatch", payload=payload)
    assert not bad.ok, bad
    assert "version '2.0' is not v<major>.<minor>.<patch>" in bad.told, bad


def test_first_push_of_a_new_repository_is_green_without_the_pull_request_setting(release_project, tmp_path):
    """GitHub refuses the promotion pull request until Actions may open pull requests: the image is
    still built once, the run stays green, and the summary says what to set."""
    project = trained_copy(release_project, tmp_path / "mlops-project")
    result = release(project, tmp_path / "state", pull_requests_allowed=False)
    assert result.ok, result
    assert len(result.calls_to("docker/build-push-action")) == 1 and result.pulls() == {}
    assert "Allow GitHub Actions to create and approve pull requests" in result.told, result
    assert f"{IMAGE}@{digest(1)}" in result.told


def fresh_clone(project: Path, destination: Path) -> Path:
    """What actions/checkout gives a runner: the committed files only (no model, no DVC cache)."""
    run(["git", "clone", "-q", str(project), str(destination)], cwd=project.parent)
    git(destination, "remote", "set-url", "origin", f"https://github.com/{OWNER_REPO}.git")
    assert not (destination / "models" / "model.skops").exists()
    assert not (destination / ".dvc" / "cache").exists()
    return destination


@pytest.mark.parametrize("remote", ["none", "never-pushed"])
def test_first_push_reproduces_the_model_dvc_lock_names(trained_project, tmp_path, remote):
    """The default configuration (no DVC remote), and a remote nobody pushed the model to: the
    release trains the model again from the committed data and params, gets the md5 dvc.lock
    records, builds once and opens the staging promotion."""
    project = fresh_clone(trained_project, tmp_path / "mlops-project")
    if remote == "never-pushed":
        store = tmp_path / "dvc-remote"
        run(["python", "-m", "dvc", "remote", "add", "--default", "local", str(store)], cwd=project)
        commit(project, "Use a DVC remote nobody pushed to")
    result = release(project, tmp_path / "state")
    assert result.ok, result
    assert "The model is not in a DVC remote: reproducing it" in result.told, result
    assert len(result.calls_to("docker/build-push-action")) == 1
    pull = result.pulls()["deploy/staging"]
    assert (pull["creates"], pull["updates"]) == (1, 0)
    assert images_field(pull["files"][STAGING]) == [{"name": IMAGE, "digest": digest(1)}]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    model_md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].startswith("models/"))
    assert f"md5:{model_md5}" in pull["body"]
    if remote == "never-pushed":  # the checked model is in the remote now
        assert any(store.rglob("*")), "dvc push of the reproduced model"


def test_first_push_of_a_cloud_remote_with_no_variables_is_green(tmp_path):
    """An s3 bake on its first day: no AWS variables yet. The release says which to set, trains
    from the committed data without touching the remote, builds once and promotes to staging."""
    trained = bake_and_train(tmp_path / "bake", dvc_remote="s3", dvc_remote_url="s3://ml-bucket/dvc")
    project = fresh_clone(trained, tmp_path / "mlops-project")
    result = release(project, tmp_path / "state")
    assert result.ok, result
    assert "The DVC remote is not set up for this repository yet: set vars.AWS_ROLE_ARN, vars.AWS_REGION" in (
        result.told
    ), result
    assert not result.calls_to("aws-actions/configure-aws-credentials")
    assert len(result.calls_to("docker/build-push-action")) == 1
    assert images_field(result.pulls()["deploy/staging"]["files"][STAGING]) == [
        {"name": IMAGE, "digest": digest(1)}
    ]

"""`make github-setup` of the generated project: its table against the workflows, and real runs
of the real GitHub CLI against a stand-in of GitHub's REST API (tests/github_api_standin.py)
that checks every request against GitHub's own OpenAPI description.

GitHub itself cannot be reached here: the edge is the HTTP request gh sends. Everything before it
(the script, `gh api`, `gh secret set` encrypting with the repository's public key) runs as it
would against github.com.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from github_api_standin import GitHubStandIn, OpenAPI, Repository

from combinations import SUPPORTED
from helpers import BIN, bake, project_env

GH = BIN / "gh"
REPO = "jane-doe/mlops-project"


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = bake(tmp_path)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=project, check=True)
    set_origin(project, f"https://github.com/{REPO}.git")
    return project


def set_origin(project: Path, url: str) -> None:
    subprocess.run(["git", "remote", "remove", "origin"], cwd=project, capture_output=True)
    subprocess.run(["git", "remote", "add", "origin", url], cwd=project, check=True)


def load_script(project: Path):
    spec = importlib.util.spec_from_file_location(
        f"github_setup_{id(project)}", project / "scripts/github_setup.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def github_setup(
    project: Path, standin: GitHubStandIn, *args: str, answers: str = ""
) -> subprocess.CompletedProcess:
    """`make github-setup` as a user runs it, gh pointed at the stand-in (see its docstring)."""
    env = project_env(
        project,
        GH=str(GH),
        GH_HOST="github.localhost",
        GH_TOKEN="test-token",
        HTTP_PROXY=standin.proxy,
        GH_CONFIG_DIR=str(project / ".gh-config"),
        GH_NO_UPDATE_NOTIFIER="1",
        GH_PROMPT_DISABLED="1",
    )
    make_args = ["make", "github-setup", f"PYTHON={sys.executable}"]
    if args:
        make_args.append("ARGS=" + " ".join(args))
    return subprocess.run(
        make_args, cwd=project, env=env, input=answers, capture_output=True, text=True, timeout=120
    )


# --- the table against the workflows (every supported combination) -------------------------


def runs_for_tags(job_id: str, jobs: dict) -> bool:
    """Whether a job of a tag-triggered workflow can run for a tag push.

    release.yml's plan job sends branch pushes to mode `build` and tags to `production`: a job
    gated on `mode == 'build'`, or needing one that is, never runs for a tag.
    """
    job = jobs[job_id]
    if "mode == 'build'" in str(job.get("if", "")):
        return False
    needs = job.get("needs", [])
    return all(runs_for_tags(need, jobs) for need in ([needs] if isinstance(needs, str) else needs))


def workflow_uses(project: Path) -> tuple[dict[str, set[str]], set[str], dict[str, set[tuple[str, str]]]]:
    """From the workflow files: secrets by environment ("" = none), variables, refs per environment."""
    secrets: dict[str, set[str]] = {}
    variables: set[str] = set()
    refs: dict[str, set[tuple[str, str]]] = {}
    for path in sorted((project / ".github/workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        triggers = workflow[True]  # PyYAML reads the key `on` as True
        pushed = triggers.get("push") or {} if isinstance(triggers, dict) else {}
        # schedule and workflow_dispatch run on the default branch: main.
        branch_refs = {("branch", b) for b in pushed.get("branches", ["main"])}
        tag_refs = {("tag", t) for t in pushed.get("tags", [])}
        for job_id, job in workflow["jobs"].items():
            text = yaml.safe_dump(job)
            environment = job.get("environment", "")
            if environment.startswith("${{"):  # deploy.yml: the matrix of its choices
                names = set(triggers["workflow_dispatch"]["inputs"]["environment"]["options"])
            else:
                names = {environment}
            job_refs = branch_refs | (tag_refs if runs_for_tags(job_id, workflow["jobs"]) else set())
            for name in names:
                found = set(re.findall(r"secrets\.([A-Z_]+)", text)) - {"GITHUB_TOKEN"}
                secrets.setdefault(name, set()).update(found)
                if name:
                    refs.setdefault(name, set()).update(job_refs)
            variables |= set(re.findall(r"vars\.([A-Z_]+)", text))
    return {k: v for k, v in secrets.items() if v}, variables, refs


@pytest.mark.parametrize("combination", sorted(SUPPORTED))
def test_table_matches_the_workflows(tmp_path: Path, combination: str) -> None:
    """Environments (and the branches and tags that use them), secrets per environment ("" is the
    repository), variables and required checks: the script's table is what the workflows use."""
    project = bake(tmp_path, **SUPPORTED[combination])
    script = load_script(project)
    secrets, variables, refs = workflow_uses(project)

    table_secrets: dict[str, set[str]] = {}
    for setting in script.SECRETS:
        table_secrets.setdefault(setting.environment, set()).add(setting.name)
    assert table_secrets == secrets
    assert {v.name for v in script.VARIABLES} == variables
    table_refs = {
        env.name: {("branch", b) for b in env.branches} | {("tag", t) for t in env.tags}
        for env in script.ENVIRONMENTS
    }
    assert table_refs == refs

    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    checks = []
    for job in ci["jobs"].values():
        versions = job.get("strategy", {}).get("matrix", {}).get("python-version")
        if versions:
            checks += [job["name"].replace("${{ matrix.python-version }}", v) for v in versions]
        else:
            checks.append(job["name"])
    assert sorted(script.REQUIRED_CHECKS) == sorted(checks)


# --- runs against the stand-in ------------------------------------------------------------------


def answers_for(script, secret_value: str) -> str:
    """One line per prompt, in the script's order: variables, then secrets."""
    lines = [f"value-of-{v.name.lower()}" for v in script.VARIABLES]
    lines += [secret_value for _ in script.SECRETS]
    return "\n".join(lines) + "\n"


def test_dry_run_prints_every_call_and_changes_nothing(project: Path, openapi: OpenAPI) -> None:
    script = load_script(project)
    with GitHubStandIn(Repository(REPO), openapi) as standin:
        result = github_setup(project, standin, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert standin.errors == []
    assert standin.writes() == []
    # Every read it made is printed, and every write it would make.
    for method, path, _ in standin.requests:
        assert f"gh api --method {method} {path}" in result.stdout
    assert f"would run: gh api --method PUT /repos/{REPO}/environments/gitops" in result.stdout
    assert f"would run: gh api --method POST /repos/{REPO}/rulesets" in result.stdout
    assert f"would run: gh api --method PUT /repos/{REPO}/actions/permissions/workflow" in result.stdout
    for setting in script.VARIABLES + script.SECRETS:
        assert f"would ask for {setting.name}" in result.stdout
    assert "none made" in result.stdout


def test_setup_makes_schema_valid_calls_and_a_second_run_changes_nothing(
    project: Path, openapi: OpenAPI
) -> None:
    script = load_script(project)
    repository = Repository(REPO)
    with GitHubStandIn(repository, openapi) as standin:
        first = github_setup(project, standin, answers=answers_for(script, "s3cr3t-value"))
        assert first.returncode == 0, first.stdout + first.stderr
        assert standin.errors == []
        assert "s3cr3t-value" not in first.stdout + first.stderr

        # GitHub now holds what the workflows need.
        assert set(repository.environments) == {env.name for env in script.ENVIRONMENTS}
        assert {(p["type"], p["name"]) for p in repository.branch_policies["gitops"]} == {
            ("branch", "main"),
            ("tag", "v*"),
        }
        assert repository.variables == {v.name: f"value-of-{v.name.lower()}" for v in script.VARIABLES}
        for setting in script.SECRETS:
            # gh sealed it with the public key: what GitHub stores is not the value.
            stored = repository.secrets[setting.environment][setting.name]
            assert stored and "s3cr3t" not in stored
        assert {r["name"]: r["target"] for r in repository.rulesets.values()} == {
            "default branch": "branch",
            "release tags": "tag",
        }
        assert repository.workflow_permissions == script.WORKFLOW_PERMISSIONS

        writes = len(standin.writes())
        # Second run: same variable values, Enter for every secret (keeps it).
        second = github_setup(project, standin, answers=answers_for(script, ""))
        assert second.returncode == 0, second.stdout + second.stderr
        assert len(standin.writes()) == writes, standin.writes()[writes:]
        assert "already set up, nothing changed" in second.stdout
        assert standin.errors == []

        # A setting changed on GitHub by hand is put back, and only that one.
        repository.workflow_permissions["can_approve_pull_request_reviews"] = False
        third = github_setup(project, standin, answers=answers_for(script, ""))
        assert third.returncode == 0, third.stderr
        assert standin.writes()[writes:] == [
            ("PUT", f"/repos/{REPO}/actions/permissions/workflow", script.WORKFLOW_PERMISSIONS)
        ]


def test_the_stand_in_rejects_what_github_would(openapi: OpenAPI) -> None:
    """The schema check can disagree: a misspelt field, a wrong type, an unknown path."""
    path = f"/repos/{REPO}/environments/gitops"
    assert openapi.check_request("PUT", path, {}, b'{"wait_timer": 0}') == []
    assert openapi.check_request("PUT", path, {}, b'{"deployment_branch_policies": {}}')
    assert openapi.check_request(
        "PUT", f"/repos/{REPO}/actions/permissions/workflow", {}, b'{"default_workflow_permissions": "none"}'
    )
    assert openapi.check_request("POST", f"/repos/{REPO}/actions/variables", {}, b'{"name": "X"}')
    assert openapi.check_request("PUT", f"/repos/{REPO}/actions/settings", {}, b"{}")
    assert openapi.check_request("GET", f"/repos/{REPO}/rulesets", {"include_parents": "false"}, b"")


@pytest.mark.parametrize(
    ("origin", "on_github", "expected"),
    [
        (
            "git@github.com:someone-else/my-model.git",
            REPO,
            "generated for jane-doe/mlops-project, but origin is someone-else/my-model",
        ),
        (f"https://github.com/{REPO}.git", "jane-doe/other-name", "does not exist on GitHub"),
    ],
)
def test_a_repository_other_than_the_baked_one_is_refused(
    project: Path, openapi: OpenAPI, origin: str, on_github: str, expected: str
) -> None:
    set_origin(project, origin)
    with GitHubStandIn(Repository(on_github), openapi) as standin:
        result = github_setup(project, standin)
    assert result.returncode != 0
    assert expected in result.stderr
    # It says what to do: rename/transfer, or re-generate; or create the repository.
    assert "Rename or transfer" in result.stderr or f"gh repo create {REPO}" in result.stderr
    assert "Traceback" not in result.stderr
    assert standin.writes() == []

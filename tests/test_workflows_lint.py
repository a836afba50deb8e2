"""The generated GitHub Actions files, statically: actionlint, zizmor, and the project's rules.

Every supported option combination is baked and its `.github/` checked with
- actionlint (with shellcheck on PATH, so `run:` scripts are linted too): zero findings;
- zizmor --offline, with the regular persona and with `--persona=auditor` (zizmor's most
  thorough, including low-confidence audits): zero findings; an accepted finding must be an inline
  `# zizmor: ignore[...]` with a written reason on the comment line(s) just above, and the
  accepted ones are counted here (ACCEPTED);
- the template's own rules: `permissions: {}` on top and per-job permissions, `timeout-minutes`
  on every job, a concurrency group, actions pinned by full SHA with the tag in a comment,
  `persist-credentials: false`, no `${{ }}` inside `run:` scripts, and every `${{ ... }}` of the
  template surviving Jinja unchanged.
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

from combinations import SUPPORTED
from helpers import BIN, TEMPLATE, bake

COMBOS = sorted(SUPPORTED)
TEMPLATE_GITHUB = TEMPLATE / "{{cookiecutter.project_slug}}" / ".github"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
IGNORE = re.compile(r"#\s*(zizmor:\s*ignore\[[^\]]+\]|shellcheck\s+disable=\S+|actionlint\b.*ignore)")
# Accepted findings, per template file: (count, what they are). Each one carries its reason inline.
SELF_REPO = "self-repository: `./` local action instead of `$/`, which act rejects"
ONE_PR = "superfluous-actions (auditor): create-pull-request keeps one PR per branch, updated in place"
SETUP = "self-repository: the setup-project action"
OPEN_PR = "self-repository: the open-pull-request action"
ACCEPTED = {
    "actions/setup-project/action.yml": (1, "github-env: the job's own .venv/bin on GITHUB_PATH"),
    "actions/open-pull-request/action.yml": (1, ONE_PR),
    "workflows/ci.yml": (2, f"{SETUP} (lint and test jobs)"),
    "workflows/train.yml": (3, f"{SELF_REPO}; {SETUP}; secrets-outside-env: the ssh remote's read-only key"),
    "workflows/drift.yml": (3, f"{SELF_REPO}; {SETUP}; {OPEN_PR}"),
    "workflows/release.yml": (4, f"{SELF_REPO}; {SETUP}; {OPEN_PR} (staging and production)"),
    "workflows/deploy.yml": (1, OPEN_PR),
}
PERSONAS = ("regular", "auditor")
# Jobs that post a pull-request comment need this permission (act cannot enforce permissions).
COMMENT_ACTION = "marocchino/sticky-pull-request-comment"


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: bake(tmp_path_factory.mktemp(f"lint-{name}"), **SUPPORTED[name]) for name in COMBOS}


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}:{os.environ.get('PATH', '')}")
    assert found, f"{name} is not installed (see requirements-dev.txt)"
    return found


def _workflows(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.y*ml"))


def _actions(project: Path) -> list[Path]:
    return sorted((project / ".github" / "actions").glob("*/action.y*ml"))


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # strings only: 'on' stays 'on'


@pytest.mark.parametrize("name", COMBOS)
def test_actionlint_with_shellcheck_finds_nothing(baked, name):
    project = baked[name]
    workflows = _workflows(project)
    assert workflows
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(project)}
    assert shutil.which("shellcheck", path=env["PATH"]), "shellcheck must be on PATH for actionlint"
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", *map(str, workflows)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", COMBOS)
def test_zizmor_offline_finds_nothing(baked, name, persona):
    project = baked[name]
    result = subprocess.run(
        [_tool("zizmor"), "--offline", f"--persona={persona}", "--format", "json", str(project / ".github")],
        capture_output=True,
        text=True,
    )
    findings = json.loads(result.stdout or "[]")
    summary = [
        f"{f['ident']}: {f['locations'][0]['symbolic']['key']} "
        f"{f['locations'][0]['concrete']['location']['start_point']}"
        for f in findings
    ]
    assert result.returncode == 0 and findings == [], "\n".join(summary) + result.stderr


def _ignores(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text().splitlines()
    return [(number, line) for number, line in enumerate(lines, 1) if IGNORE.search(line)]


def test_accepted_findings_are_counted_and_have_a_reason():
    counts = {}
    for path in sorted(TEMPLATE_GITHUB.rglob("*.y*ml")):
        ignores = _ignores(path)
        if not ignores:
            continue
        rel = path.relative_to(TEMPLATE_GITHUB).as_posix()
        counts[rel] = len(ignores)
        lines = path.read_text().splitlines()
        for number, _ in ignores:
            above = []
            index = number - 2
            while index >= 0 and lines[index].strip().startswith("#"):
                above.append(lines[index])
                index -= 1
            reason = " ".join(above)
            assert "Reason:" in reason and len(reason) > 60, (
                f"{rel}:{number}: ignore without a written reason"
            )
    assert counts == {file: count for file, (count, _) in ACCEPTED.items()}


@pytest.mark.parametrize("name", COMBOS)
def test_accepted_findings_are_really_ignored_not_absent(baked, name):
    """With ignores switched off, the auditor persona reports exactly the accepted findings."""
    project = baked[name]
    result = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--persona=auditor",
            "--no-ignores",
            "--format",
            "json",
            str(project / ".github"),
        ],
        capture_output=True,
        text=True,
    )
    found = len(json.loads(result.stdout or "[]"))
    expected = sum(len(_ignores(p)) for p in project.glob(".github/**/*.y*ml"))
    assert found == expected


def _template_expressions() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATE_GITHUB.rglob("*.y*ml"):
        found |= set(EXPRESSION.findall(path.read_text()))
    return found


def test_every_expression_survived_jinja(baked):
    """Each rendered `${{ ... }}` is verbatim one of the template's, and every one of them renders."""
    template = _template_expressions()
    assert template, "no GitHub expressions found in the template"
    rendered_all: set[str] = set()
    for name, project in baked.items():
        for path in project.glob(".github/**/*.y*ml"):
            text = path.read_text()
            rendered = EXPRESSION.findall(text)
            rendered_all |= set(rendered)
            assert text.count("${{") == len(rendered), f"{name}: unbalanced expression in {path.name}"
            assert set(rendered) <= template, f"{name}: {path.name}: {set(rendered) - template}"
            assert not re.search(r"\$\{\{\s*\}\}", text), f"{name}: empty expression in {path.name}"
            assert "{%" not in text and "cookiecutter" not in text, f"{name}: Jinja left in {path.name}"
    assert template <= rendered_all, f"never rendered: {template - rendered_all}"


def _jobs(workflow: dict) -> dict[str, dict]:
    return workflow.get("jobs", {})


def _uses(document: dict) -> list[str]:
    out = []
    for job in _jobs(document).values():
        out += [step["uses"] for step in job.get("steps", []) if "uses" in step]
    out += [step["uses"] for step in document.get("runs", {}).get("steps", []) if "uses" in step]
    return out


@pytest.mark.parametrize("name", COMBOS)
def test_least_privilege_timeouts_concurrency_and_pins(baked, name):
    project = baked[name]
    for path in _workflows(project):
        workflow = _load(path)
        assert workflow.get("permissions") == {}, f"{path.name}: needs `permissions: {{}}` at the top"
        assert "concurrency" in workflow, f"{path.name}: needs a concurrency group"
        for job_name, job in _jobs(workflow).items():
            where = f"{path.name}:{job_name}"
            assert "timeout-minutes" in job, f"{where}: no timeout-minutes"
            assert "permissions" in job, f"{where}: job permissions must be explicit"
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    # Credentials stay on disk only for a job that pushes (contents: write).
                    persist = step.get("with", {}).get("persist-credentials")
                    pushes = job["permissions"].get("contents") == "write"
                    assert persist == "false" or pushes, f"{where}: persist-credentials: false"
                assert "${{" not in step.get("run", ""), f"{where}: expression inside run: (use env:)"
            if any(s.get("uses", "").startswith(COMMENT_ACTION) for s in job.get("steps", [])):
                assert job["permissions"].get("pull-requests") == "write", where
    for path in [*_workflows(project), *_actions(project)]:
        text = path.read_text()
        for uses in _uses(_load(path)):
            if uses.startswith("./"):
                continue
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a full commit SHA"
            line = next(line for line in text.splitlines() if uses in line)
            assert re.search(r"#\s*v\d+(\.\d+)*", line), f"{path.name}: {uses} has no `# vX.Y.Z` tag comment"
        for step in _load(path).get("runs", {}).get("steps", []):
            assert "${{" not in step.get("run", ""), f"{path.name}: expression inside run: (use env:)"


@pytest.mark.parametrize("name", COMBOS)
def test_remote_credentials_match_the_option(baked, name):
    project = baked[name]
    remote = SUPPORTED[name].get("dvc_remote", "none")
    action = project / ".github" / "actions" / "dvc-remote" / "action.yml"
    train = (project / ".github" / "workflows" / "train.yml").read_text()
    if remote == "none":
        assert not action.exists()
        assert "dvc-remote" not in train and "id-token" not in train
        return
    text = action.read_text()
    expected = {
        "s3": "aws-actions/configure-aws-credentials@",
        "gcs": "google-github-actions/auth@",
        "azure": "azure/login@",
        "ssh": "umask 077",
    }[remote]
    assert expected in text
    assert "uses: ./.github/actions/dvc-remote" in train
    assert ("id-token: write" in train) == (remote != "ssh")


@pytest.mark.parametrize("name", COMBOS)
def test_dependabot_updates_actions_lock_and_base_image(baked, name):
    config = yaml.safe_load((baked[name] / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"github-actions", "uv", "docker"}
    # The base image gets digest refreshes of its python:<python_version>-slim tag, never a newer
    # Python minor or major (CI and uv.lock cover the versions from python_version up).
    docker = next(u for u in config["updates"] if u["package-ecosystem"] == "docker")
    assert docker["ignore"] == [
        {
            "dependency-name": "python",
            "update-types": ["version-update:semver-major", "version-update:semver-minor"],
        }
    ]
    if SUPPORTED[name].get("dvc_remote", "none") != "none":
        actions = next(u for u in config["updates"] if u["package-ecosystem"] == "github-actions")
        assert "/.github/actions/dvc-remote" in actions["directories"]


WRITE_CREDENTIALS = re.compile(
    r"secrets\.(DVC_SSH_PRIVATE_KEY|BOT_APP_PRIVATE_KEY|BOT_TOKEN|KUBECONFIG)\b"
    r"|vars\.(AWS_ROLE_ARN|GCP_SERVICE_ACCOUNT|AZURE_CLIENT_ID)\b"
)


@pytest.mark.parametrize("name", COMBOS)
def test_pull_requests_cannot_reach_write_credentials(baked, name):
    """Workflows that pull requests trigger name no write credential; every job that does runs in
    an environment (whose deployment branches keep pull requests out)."""
    for path in _workflows(baked[name]):
        workflow = _load(path)
        triggers = workflow["on"]
        for job_name, job in _jobs(workflow).items():
            text = yaml.safe_dump(job)
            if not WRITE_CREDENTIALS.search(text):
                continue
            assert "pull_request" not in triggers and "pull_request_target" not in triggers, (
                f"{path.name}:{job_name}: a pull-request workflow names a write credential"
            )
            assert job.get("environment"), f"{path.name}:{job_name}: write credentials outside an environment"


# What only the other deploy mode has; a bake may name it only where it tells how to switch modes.
OTHER_MODE_WORDS = {
    "argocd": (
        "deploy.yml",
        "deployments.sh",
        "Deployments API",
        "reviewers approve",
        "Deploy run",
        "revert pull request",
        "revert/deploy",
        "revert)",
    ),
    "actions": ("Argo CD syncs", "argocd app ", "argoproj.io", "Argo CD pulls"),
}
SWITCHING = re.compile(r"^To switch to the (push|pull) mode")


def _text_files(project: Path) -> list[Path]:
    skip = {".git", "uv.lock"}
    files = [p for p in project.rglob("*") if p.is_file() and not skip & {*p.parts, p.name}]
    out = []
    for path in files:
        try:
            path.read_text()
        except UnicodeDecodeError:
            continue
        out.append(path)
    return out


@pytest.mark.parametrize("name", COMBOS)
def test_each_bake_describes_only_its_own_deploy_mode(baked, name):
    """An argocd bake names no deploy workflow, no Deployments API record and no approval gate it
    does not have; an actions bake says nothing that only Argo CD does. The paragraph on how to
    switch to the other mode is the one place that names the other mode's files."""
    mode = SUPPORTED[name].get("deploy", "actions")
    project = baked[name]
    found = []
    for path in _text_files(project):
        paragraphs = path.read_text().split("\n\n")
        kept = "\n\n".join(p for p in paragraphs if not SWITCHING.match(p.strip()))
        for word in OTHER_MODE_WORDS[mode]:
            if word in kept:
                found.append(f"{path.relative_to(project)}: {word!r}")
    assert found == [], f"{mode} bake names the other mode: {found}"


@pytest.mark.parametrize("name", COMBOS)
def test_a_tag_reaches_only_the_promotion_environment(baked, name):
    """A `v*` tag runs the plan and the production promotion only (the act tests show the build
    is skipped): that job's environment is `promotion`, which holds the pull-request token and
    nothing else; no DVC role, no package write, no OIDC token."""
    workflow = _load(baked[name] / ".github" / "workflows" / "release.yml")
    jobs = _jobs(workflow)
    for job_name, job in jobs.items():
        reached_by_tag = job.get("if", "") == "needs.plan.outputs.mode == 'production'"
        assert reached_by_tag == (job_name == "promote-production"), job_name
        if job.get("environment") == "gitops":
            assert "mode == 'build'" in job.get("if", "") or job.get("needs") == "image", job_name
    promotion = jobs["promote-production"]
    assert promotion["environment"] == "promotion"
    assert set(promotion["permissions"]) <= {"contents", "pull-requests", "deployments"}
    assert promotion["permissions"].get("deployments", "read") == "read"
    text = yaml.safe_dump(promotion)
    assert "dvc-remote" not in text and not re.search(r"vars\.(AWS|GCP|AZURE|DVC)_", text)
    secrets = set(re.findall(r"secrets\.(\w+)", text))
    assert secrets == {"BOT_APP_PRIVATE_KEY", "BOT_TOKEN"}, secrets

"""Configure the GitHub repository for this project's workflows: `make github-setup`.

What it sets (each only when it differs from what GitHub already has, so a second run changes
nothing): the environments the workflows name, with the branches and tags that may use them;
repository variables; environment and repository secrets (asked without echo); a ruleset for
the default branch and one for `v*` tags; the Actions workflow permissions. Read first, then a
plan, then the changes: `--dry-run` prints every call and changes nothing.

Calls go through the GitHub CLI (`gh api`, and `gh secret set`, which encrypts a secret with the
repository's public key): log in once with `gh auth login`. Standard library only.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

# Baked by the template: OIDC subject claims{% if cookiecutter.deploy == "argocd" %}, Argo CD's repoURL{% endif %} and the image name use them.
OWNER = "{{ cookiecutter.github_owner }}"
REPO = "{{ cookiecutter.project_slug }}"
# The branch the workflows run on (`on: push: branches: [main]`).
DEFAULT_BRANCH = "main"
{% raw %}

@dataclass(frozen=True)
class Environment:
    name: str
    branches: tuple[str, ...]
    tags: tuple[str, ...] = ()
    purpose: str = ""


@dataclass(frozen=True)
class Setting:
    """A variable or secret the workflows read; `environment` empty means repository level."""

    name: str
    help: str
    environment: str = ""

{% endraw %}
# What the workflows use: the template's tests compare this table with the workflow files.
ENVIRONMENTS = (
    Environment(
        "gitops",
        branches=(DEFAULT_BRANCH,),
        purpose="jobs that push the image, DVC data and pull requests",
    ),
    Environment(
        "promotion",
        branches=(DEFAULT_BRANCH,),
        tags=("v*",),
        purpose="the production promotion a version tag starts (pull-request token only)",
    ),
{%- if cookiecutter.deploy == "actions" %}
    Environment("staging", branches=(DEFAULT_BRANCH,), purpose="deploy.yml applies staging"),
    Environment("production", branches=(DEFAULT_BRANCH,), purpose="deploy.yml applies production"),
{%- endif %}
)
VARIABLES = (
    Setting(
        "BOT_APP_CLIENT_ID", "client id of the GitHub App that opens the workflows' pull requests"
    ),
    Setting("STAGING_AUTO_MERGE", "true to auto-merge staging promotion pull requests"),
{%- if cookiecutter.dvc_remote == "s3" %}
    Setting("AWS_ROLE_ARN", "IAM role the gitops jobs assume (read and write the DVC remote)"),
    Setting("AWS_READ_ROLE_ARN", "IAM role pull requests assume (read the DVC remote)"),
    Setting("AWS_REGION", "AWS region of the bucket"),
{%- elif cookiecutter.dvc_remote == "gcs" %}
    Setting(
        "GCP_WORKLOAD_IDENTITY_PROVIDER", "full resource name of the Workload Identity Provider"
    ),
    Setting(
        "GCP_SERVICE_ACCOUNT", "service account of the gitops jobs (read and write the DVC remote)"
    ),
    Setting("GCP_READ_SERVICE_ACCOUNT", "service account of pull requests (read the DVC remote)"),
{%- elif cookiecutter.dvc_remote == "azure" %}
    Setting("AZURE_CLIENT_ID", "client id with write access to the DVC container (gitops jobs)"),
    Setting(
        "AZURE_READ_CLIENT_ID", "client id with read access to the DVC container (pull requests)"
    ),
    Setting("AZURE_TENANT_ID", "Microsoft Entra tenant id"),
    Setting("AZURE_SUBSCRIPTION_ID", "subscription id"),
    Setting("AZURE_STORAGE_ACCOUNT", "storage account of the DVC container"),
{%- elif cookiecutter.dvc_remote == "ssh" %}
    Setting("DVC_SSH_KNOWN_HOSTS", "known_hosts line(s) of the DVC ssh server"),
{%- endif %}
)
SECRETS = (
    Setting("BOT_APP_PRIVATE_KEY", "private key (PEM) of the GitHub App", "gitops"),
    Setting("BOT_TOKEN", "fine-grained token of a machine user, if there is no App", "gitops"),
    Setting("BOT_APP_PRIVATE_KEY", "private key (PEM) of the GitHub App", "promotion"),
    Setting("BOT_TOKEN", "fine-grained token of a machine user, if there is no App", "promotion"),
{%- if cookiecutter.dvc_remote == "ssh" %}
    Setting("DVC_SSH_PRIVATE_KEY", "ssh key that may write the DVC remote", "gitops"),
    Setting("DVC_SSH_READ_KEY", "ssh key that may only read the DVC remote (pull requests)"),
{%- endif %}
{%- if cookiecutter.deploy == "actions" %}
    Setting("KUBECONFIG", "kubeconfig of the staging deployer", "staging"),
    Setting("KUBECONFIG", "kubeconfig of the production deployer", "production"),
{%- endif %}
)
# Checks a pull request must pass: the job names of ci.yml, one test job per supported Python.
{%- set all_versions = ["3.11", "3.12", "3.13"] %}
REQUIRED_CHECKS = (
    "Lint (ruff)",
{%- for version in all_versions[all_versions.index(cookiecutter.python_version):] %}
    "Tests (Python {{ version }})",
{%- endfor %}
    "Image build stage (not pushed)",
)
{% raw %}

def rulesets(approvals: int) -> list[dict]:
    """The two rulesets: changes reach the default branch by pull request; v* tags never move."""
    default_branch = {
        "name": "default branch",
        "target": "branch",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {"type": "deletion"},
            {"type": "non_fast_forward"},
            {
                "type": "pull_request",
                "parameters": {
                    "required_approving_review_count": approvals,
                    "dismiss_stale_reviews_on_push": True,
                    "require_code_owner_review": approvals > 0,
                    "require_last_push_approval": False,
                    "required_review_thread_resolution": False,
                },
            },
            {
                "type": "required_status_checks",
                "parameters": {
                    "strict_required_status_checks_policy": False,
                    "required_status_checks": [{"context": check} for check in REQUIRED_CHECKS],
                },
            },
        ],
    }
    release_tags = {
        "name": "release tags",
        "target": "tag",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["refs/tags/v*"], "exclude": []}},
        "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}, {"type": "update"}],
    }
    return [default_branch, release_tags]

{% endraw %}
NOT_DONE_HERE = (
{%- if cookiecutter.deploy == "actions" %}
    "Not done here: required reviewers for the production environment (Settings > Environments;"
    " a private repository needs a paid plan for them), and the GHCR package's visibility (its"
    " settings, after the first release)."
{%- else %}
    "Not done here: Argo CD's access to this repository (docs/cluster.md), and the GHCR package's"
    " visibility (its settings, after the first release)."
{%- endif %}
)
{% raw %}
# Settings > Actions > General: read-only GITHUB_TOKEN unless a job asks for more, and Actions
# may open pull requests (the promotion, revert and retraining pull requests).
WORKFLOW_PERMISSIONS = {
    "default_workflow_permissions": "read",
    "can_approve_pull_request_reviews": True,
}


class SetupError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass
class Call:
    """One write: `gh api` (method, path, body) or `gh secret set` (secret, environment)."""

    why: str
    method: str = ""
    path: str = ""
    body: dict | None = None
    secret: Setting | None = None
    value: str = field(default="", repr=False)

    def describe(self, repo: str) -> str:
        if self.secret:
            where = f" --env {self.secret.environment}" if self.secret.environment else ""
            return f"gh secret set {self.secret.name}{where} --repo {repo}  # {self.why}"
        body = f" <<< '{json.dumps(self.body, sort_keys=True)}'" if self.body is not None else ""
        return f"gh api --method {self.method} {self.path}{body}  # {self.why}"


class GitHub:
    """`gh api` for one repository; every request is printed in a dry run."""

    def __init__(self, gh: list[str], repo: str, verbose: bool):
        self.gh = gh
        self.repo = repo
        self.verbose = verbose

    def get(self, path: str) -> dict | list | None:
        """GET a path; None when GitHub answers 404 (not there yet)."""
        if self.verbose:
            print(f"gh api --method GET {path}")
        result = self._gh(["api", "--include", path])
        # --include: the status line and headers, a blank line, then the body.
        head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
        status = head.split(" ", 2)[1] if head.startswith("HTTP/") else ""
        if status == "404":
            return None
        if result.returncode != 0:
            raise SetupError(f"GET {path} failed: {result.stderr.strip() or head}")
        return json.loads(body) if body.strip() else {}

    def write(self, call: Call) -> None:
        print(call.describe(self.repo))
        if call.secret:
            args = ["secret", "set", call.secret.name, "--repo", self.repo]
            if call.secret.environment:
                args += ["--env", call.secret.environment]
            result = self._gh(args, stdin=call.value)
        else:
            body = json.dumps(call.body) if call.body is not None else None
            args = ["api", "--method", call.method, call.path]
            result = self._gh(args + (["--input", "-"] if body is not None else []), stdin=body)
        if result.returncode != 0:
            raise SetupError(f"{call.describe(self.repo)}\nfailed: {result.stderr.strip()}")

    def _gh(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*self.gh, *args], input=stdin, capture_output=True, text=True)
        except FileNotFoundError:
            raise SetupError(
                f"{self.gh[0]} not found: install the GitHub CLI (https://cli.github.com), or run "
                "`make github-setup`, which runs a pinned one with uv."
            ) from None


class Answers:
    """Values asked for at the terminal: variables shown as typed, secrets without echo."""

    def __init__(self, interactive: bool):
        self.interactive = interactive

    def variable(self, setting: Setting, current: str | None) -> str | None:
        """The new value, or None to keep what is there (or leave it unset)."""
        if not self.interactive:
            return None
        shown = "Enter leaves it unset"
        if current is not None:
            shown = f"now {current!r}, Enter keeps it"
        answer = self._read(f"variable {setting.name}: {setting.help} ({shown}): ", hidden=False)
        return answer or None

    def secret(self, setting: Setting, exists: bool) -> str | None:
        if not self.interactive:
            return None
        where = f"environment {setting.environment}" if setting.environment else "repository"
        shown = "set, Enter keeps it" if exists else "Enter leaves it unset"
        prompt = f"secret {setting.name} ({where}): {setting.help} ({shown}; not echoed): "
        return self._read(prompt, hidden=True) or None

    @staticmethod
    def _read(prompt: str, hidden: bool) -> str:
        if not sys.stdin.isatty():  # answers piped in, one a line (a secret may be one line only)
            print(prompt, end="", flush=True)
            return sys.stdin.readline().rstrip("\n")
        return getpass.getpass(prompt) if hidden else input(prompt).strip()


def origin_repository() -> str | None:
    """OWNER/NAME of the git remote `origin`, if it points somewhere."""
    result = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True)
    match = re.search(r"[:/]([^/:]+)/([^/]+?)(?:\.git)?/?$", result.stdout.strip())
    return f"{match[1]}/{match[2]}" if result.returncode == 0 and match else None


def check_repository(api: GitHub, expected: str) -> None:
    """The repository must be OWNER/REPO as baked: the workflows' OIDC claims and image name say
    so."""
    create = f"gh repo create {expected} --private --source . --remote origin --push"
    rebake = (
        "or generate the project again with github_owner and project_slug set to the repository's "
        "owner and name (cruft update keeps your changes)"
    )
    origin = origin_repository()
    if origin is None:
        raise SetupError(f"no git remote `origin`. Create the repository and push: {create}")
    if origin.lower() != expected.lower():
        raise SetupError(
            f"this project was generated for {expected}, but origin is {origin}.\n"
            f"The workflows' OIDC subject claims, the image name (ghcr.io/{expected.lower()})"
            f" and the Kubernetes manifests name {expected}. Rename or transfer the GitHub "
            f"repository to {expected} and run `git remote set-url origin` to match, {rebake}."
        )
    found = api.get(f"/repos/{expected}")
    if found is None:
        raise SetupError(
            f"{expected} does not exist on GitHub (or you cannot see it). Create it: {create}"
        )
    if found["full_name"].lower() != expected.lower():
        raise SetupError(
            f"{expected} redirects to {found['full_name']} (renamed or transferred). "
            f"Rename it back to {expected}, {rebake}."
        )
    if found.get("default_branch") != DEFAULT_BRANCH:
        raise SetupError(
            f"the default branch of {expected} is {found.get('default_branch')!r}; the "
            f"workflows run on {DEFAULT_BRANCH!r}. Rename the branch (Settings > Branches) to "
            f"{DEFAULT_BRANCH}."
        )
    if not found.get("permissions", {}).get("admin", False):
        raise SetupError(
            f"these settings need admin rights on {expected}; `gh auth status` says who you are"
        )


def plan(api: GitHub, repo: str, answers: Answers, approvals: int) -> list[Call]:
    """Read what GitHub has and return the writes that make it what the workflows need."""
    calls: list[Call] = []
    base = f"/repos/{repo}"
    for env in ENVIRONMENTS:
        calls += plan_environment(api, f"{base}/environments/{env.name}", env)
    for setting in VARIABLES:
        current = api.get(f"{base}/actions/variables/{setting.name}")
        value = answers.variable(setting, current["value"] if current else None)
        if value is None or (current and current["value"] == value):
            continue
        if current:
            path, body = f"{base}/actions/variables/{setting.name}", {"value": value}
            calls.append(Call(f"update variable {setting.name}", "PATCH", path, body))
        else:
            path, body = f"{base}/actions/variables", {"name": setting.name, "value": value}
            calls.append(Call(f"create variable {setting.name}", "POST", path, body))
    for setting in SECRETS:
        scope = f"{base}/actions"
        if setting.environment:
            scope = f"{base}/environments/{setting.environment}"
        exists = api.get(f"{scope}/secrets/{setting.name}") is not None
        value = answers.secret(setting, exists)
        if value is not None:
            why = f"{'replace' if exists else 'set'} secret {setting.name}"
            calls.append(Call(why, secret=setting, value=value))
    calls += plan_rulesets(api, base, rulesets(approvals))
    path = f"{base}/actions/permissions/workflow"
    current = api.get(path) or {}
    if any(current.get(key) != value for key, value in WORKFLOW_PERMISSIONS.items()):
        why = "Actions: read-only token by default, may open pull requests"
        calls.append(Call(why, "PUT", path, WORKFLOW_PERMISSIONS))
    return calls


def plan_environment(api: GitHub, path: str, env: Environment) -> list[Call]:
    """The environment, limited to its branches and tags (custom deployment branch policies)."""
    wanted = {"protected_branches": False, "custom_branch_policies": True}
    current = api.get(path)
    calls = []
    if current is None or current.get("deployment_branch_policy") != wanted:
        body = {"deployment_branch_policy": wanted}
        calls.append(Call(f"environment {env.name}: {env.purpose}", "PUT", path, body))
    # A new environment has no policies yet; nothing to read before it exists.
    existing = api.get(f"{path}/deployment-branch-policies") if current else None
    policies = (existing or {}).get("branch_policies", [])
    have = {(policy["name"], policy.get("type", "branch")) for policy in policies}
    wanted_refs = [(branch, "branch") for branch in env.branches]
    wanted_refs += [(tag, "tag") for tag in env.tags]
    for name, kind in wanted_refs:
        if (name, kind) not in have:
            why = f"environment {env.name}: {kind} {name} may use it"
            body = {"name": name, "type": kind}
            calls.append(Call(why, "POST", f"{path}/deployment-branch-policies", body))
    return calls


def plan_rulesets(api: GitHub, base: str, wanted: list[dict]) -> list[Call]:
    """Create each ruleset by name, or update it when a field this script sets differs."""
    # includes_parents=false: this repository's own rulesets, not its organisation's.
    listed = api.get(f"{base}/rulesets?includes_parents=false") or []
    existing = {ruleset["name"]: ruleset["id"] for ruleset in listed}
    calls = []
    for ruleset in wanted:
        if ruleset["name"] not in existing:
            calls.append(Call(f"ruleset {ruleset['name']}", "POST", f"{base}/rulesets", ruleset))
            continue
        path = f"{base}/rulesets/{existing[ruleset['name']]}"
        current = api.get(path) or {}
        if any(current.get(key) != value for key, value in ruleset.items()):
            calls.append(Call(f"ruleset {ruleset['name']} (update)", "PUT", path, ruleset))
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print every call (reads made, writes not); change nothing",
    )
    parser.add_argument(
        "--approvals",
        type=int,
        default=1,
        help="approving reviews a pull request needs (default 1; 0 when you work alone)",
    )
    args = parser.parse_args(argv)
    gh = os.environ.get("GH", "gh").split()
    repo = f"{OWNER}/{REPO}"
    host = os.environ.get("GH_HOST", "github.com")
    api = GitHub(gh, repo if host == "github.com" else f"{host}/{repo}", verbose=args.dry_run)
    try:
        check_repository(api, repo)
        calls = plan(api, repo, Answers(interactive=not args.dry_run), args.approvals)
        if args.dry_run:
            for call in calls:
                print(f"would run: {call.describe(api.repo)}")
            for setting in VARIABLES + SECRETS:
                where = f" (environment {setting.environment})" if setting.environment else ""
                print(f"would ask for {setting.name}{where}")
            print(f"dry run: {len(calls)} change(s) planned, none made")
            return 0
        for call in calls:
            api.write(call)
    except SetupError as error:
        print(f"github-setup: {error}", file=sys.stderr)
        return 1
    if calls:
        print(f"{repo}: {len(calls)} change(s) made")
    else:
        print(f"{repo}: already set up, nothing changed")
    print(NOT_DONE_HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main()){% endraw %}

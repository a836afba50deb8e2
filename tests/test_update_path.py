"""The template's version and the update path of a generated repository; `make help`.

The update tests take the committed HEAD of this checkout (`git archive`) into a throwaway git
repository that stands for the published template, generate a project from it with
`cruft create`, make the user's own changes, then add a later commit to the throwaway template
and update the project with `cruft check` / `cruft update`, as the generated docs/updating.md tells users
to. No network: cruft clones the template from that local path.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers import TEMPLATE, bake, commit, git, run

PROJECT_DIR = "{{cookiecutter.project_slug}}"
CI_WORKFLOW = Path(".github/workflows/ci.yml")

# What the later template commit adds. The target's name has a digit: `make help` must list it.
NEW_TARGET = "template-v2"
NEW_TARGET_RULE = (
    f"\n.PHONY: {NEW_TARGET}\n"
    f"{NEW_TARGET}: ## a task added by a later template commit\n"
    "\t@echo 'added by the template update'\n"
)
TEMPLATE_CI_COMMENT = "# Edited by a later template commit.\n"  # just above the workflow's `name:`
WORKFLOW_NAME = r"^name: .*\n"

# The user's own changes, made after generation.
USER_MODEL_PARAMS = "{n_estimators: 50}"
USER_MAKEFILE_LINE = "TEAM_CONTACT ?= ml-team@example.com\n"
USER_MODULE = '"""Our own code, next to the generated package."""\n\nTHRESHOLD = 0.7\n'


# --- the version ---------------------------------------------------------------------------------

VERSION_HEADING = re.compile(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?[ \t]*$", re.M)


def changelog_sections() -> list[tuple[str, str | None, str]]:
    """(version, date, body) per `## [...]` heading of CHANGELOG.md, newest first."""
    text = (TEMPLATE / "CHANGELOG.md").read_text()
    headings = list(VERSION_HEADING.finditer(text))
    ends = [h.start() for h in headings[1:]] + [len(text)]
    return [(h[1], h[2], text[h.end() : end]) for h, end in zip(headings, ends, strict=True)]


def test_changelog_newest_release_is_the_template_version():
    version = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]["version"]
    released = [(v, date, body) for v, date, body in changelog_sections() if v != "Unreleased"]
    assert released, "CHANGELOG.md has no released version (## [X.Y.Z] - YYYY-MM-DD)"
    assert released[0][0] == version, (
        f"pyproject.toml says {version}, the newest release in CHANGELOG.md is {released[0][0]}: "
        "set pyproject.toml's version when a release heading is added"
    )
    numbers = []
    for v, date, _body in released:
        assert re.fullmatch(r"\d+\.\d+\.\d+", v), f"CHANGELOG.md: {v!r} is not X.Y.Z"
        assert date, f"CHANGELOG.md: [{v}] has no release date"
        numbers.append(tuple(int(part) for part in v.split(".")))
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers), (
        f"CHANGELOG.md: versions not newest first: {[v for v, _, _ in released]}"
    )
    # Every release after the first says what a generated repository must do to take it.
    for v, _, body in released[:-1]:
        assert "### On update" in body, f"CHANGELOG.md: [{v}] has no '### On update' section"


# --- make help -----------------------------------------------------------------------------------


def documented_targets(makefile: Path) -> list[str]:
    return re.findall(r"^([A-Za-z0-9][\w.-]*):(?!=).*?## ", makefile.read_text(), re.M)


def listed_targets(directory: Path) -> list[str]:
    return re.findall(r"^\s*make (\S+)", run(["make", "help"], cwd=directory).stdout, re.M)


def test_make_help_of_a_generated_project_lists_every_documented_target(tmp_path):
    project = bake(tmp_path)
    documented = documented_targets(project / "Makefile")
    assert "k8s-render" in documented
    assert listed_targets(project) == documented


def test_make_help_of_the_template_lists_every_documented_target():
    documented = documented_targets(TEMPLATE / "Makefile")
    assert "test-quick" in documented
    assert listed_targets(TEMPLATE) == documented


# --- the update path -----------------------------------------------------------------------------


def cruft(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["cruft", *args], cwd=cwd, check=check)


@pytest.fixture
def template_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The template at this checkout's HEAD, as the first commit of a repository of its own."""
    # cookiecutter and cruft keep replay files and config under HOME: keep them in tmp_path.
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    ).stdout
    repo = tmp_path / "template"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(repo, filter="data")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "Template as committed")
    return repo


def edit(path: Path, pattern: str, replace: Callable[[re.Match[str]], str]) -> None:
    """Replace the first match of a (multi-line) pattern in a file; fail when nothing matches."""
    text, count = re.subn(pattern, replace, path.read_text(), count=1, flags=re.M)
    assert count == 1, f"{path}: nothing matches {pattern!r}; update this test"
    path.write_text(text)


def template_commit(repo: Path, message: str, workflow_name: Callable[[re.Match[str]], str]) -> str:
    """A later template commit: a new Makefile target, and the CI workflow's `name:` line edited.

    The `name:` line is plain YAML in the template and in a generated project alike.
    """
    with (repo / PROJECT_DIR / "Makefile").open("a") as makefile:
        makefile.write(NEW_TARGET_RULE)
    edit(repo / PROJECT_DIR / CI_WORKFLOW, WORKFLOW_NAME, workflow_name)
    commit(repo, message)
    return git(repo, "rev-parse", "HEAD")


def comment_above(match: re.Match[str]) -> str:
    return TEMPLATE_CI_COMMENT + match[0]


@pytest.fixture
def user_project(template_repo: Path, tmp_path: Path) -> Path:
    """`cruft create` from the template, committed, then changed by its user and committed again."""
    cruft(tmp_path, "create", "--no-input", "--output-dir", str(tmp_path / "projects"), str(template_repo))
    (project,) = (tmp_path / "projects").iterdir()
    git(project, "init", "-q", "-b", "main")
    commit(project, "Generated with cruft")

    params = project / "params.yaml"
    edit(params, r"^(model:\n(?:[ #].*\n)*?  params: )\{\}", lambda m: m[1] + USER_MODEL_PARAMS)
    assert yaml.safe_load(params.read_text())["model"]["params"] == {"n_estimators": 50}
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    (project / "src" / package / "team_rules.py").write_text(USER_MODULE)
    edit(project / "Makefile", r"\A.*\n", lambda m: m[0] + USER_MAKEFILE_LINE)
    commit(project, "Our model params, our module, our Makefile variable")
    return project


def unmerged_files(project: Path) -> list[str]:
    return git(project, "diff", "--name-only", "--diff-filter=U").split()


def leftovers(project: Path) -> list[str]:
    """.rej files and files holding conflict markers (outside .git)."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.relative_to(project).parts or not path.is_file():
            continue
        if path.suffix == ".rej" or "\n<<<<<<< " in "\n" + path.read_text(errors="replace"):
            found.append(str(path.relative_to(project)))
    return sorted(found)


@pytest.mark.slow
def test_cruft_update_brings_a_template_change_and_keeps_the_users_edits(template_repo, user_project):
    project = user_project
    params_before = (project / "params.yaml").read_text()
    package = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["package_name"]
    module = project / "src" / package / "team_rules.py"

    assert cruft(project, "check").returncode == 0
    new_commit = template_commit(template_repo, "A new Makefile target, a comment in ci.yml", comment_above)

    outdated = cruft(project, "check", check=False)
    assert outdated.returncode != 0, f"cruft check passed on an outdated project:\n{outdated.stdout}"
    cruft(project, "update", "--skip-apply-ask")

    assert unmerged_files(project) == []
    assert leftovers(project) == []
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    # The template's change arrived, and works.
    project_makefile = (project / "Makefile").read_text()
    assert project_makefile.endswith(NEW_TARGET_RULE)
    assert NEW_TARGET in listed_targets(project)
    assert run(["make", NEW_TARGET], cwd=project).stdout == "added by the template update\n"
    project_workflow = (project / CI_WORKFLOW).read_text()
    assert f"\n{TEMPLATE_CI_COMMENT}name: " in project_workflow
    assert yaml.safe_load(project_workflow)["jobs"]
    # The user's edits survived, byte for byte.
    assert (project / "params.yaml").read_text() == params_before
    assert module.read_text() == USER_MODULE
    assert project_makefile.splitlines(keepends=True)[1] == USER_MAKEFILE_LINE

    commit(project, "Template update")
    assert cruft(project, "check").returncode == 0


@pytest.mark.slow
def test_cruft_update_on_a_line_the_user_changed_leaves_a_conflict_to_resolve(template_repo, user_project):
    project = user_project
    workflow = project / CI_WORKFLOW
    edit(workflow, WORKFLOW_NAME, lambda m: "name: Team CI\n")
    commit(project, "Our own name for the CI workflow")
    template_commit(template_repo, "A new Makefile target, ci.yml renamed", lambda m: "name: CI checks\n")

    # cruft reports success even so: the conflict is in git's status and in the file.
    cruft(project, "update", "--skip-apply-ask")

    assert unmerged_files(project) == [str(CI_WORKFLOW)]
    text = workflow.read_text()
    assert "\nname: Team CI\n" in text and "\nname: CI checks\n" in text
    assert leftovers(project) == [str(CI_WORKFLOW)]
    # The rest of the same update applied cleanly.
    assert (project / "Makefile").read_text().endswith(NEW_TARGET_RULE)

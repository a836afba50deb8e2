"""The generated README and docs/ pages, for every supported combination.

A newcomer reads the README top to bottom: it stays short, links to one page per topic, every
link resolves (file and heading), and no page speaks of another option's world (a regression
project's pages say nothing of ROC curves, a project without a DVC remote asks for no cloud
variables, an Argo CD project never calls the deploy workflow the applier).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from combinations import SUPPORTED
from helpers import bake

COMBOS = sorted(SUPPORTED)
README_MAX_LINES = 250
# One page per topic, linked from the README's table of contents.
TOPIC_PAGES = (
    "docs/data.md",
    "docs/pipeline.md",
    "docs/pull-requests.md",
    "docs/serving.md",
    "docs/image.md",
    "docs/kubernetes.md",
    "docs/cluster.md",
    "docs/releases.md",
    "docs/drift.md",
    "docs/github-setup.md",
    "docs/updating.md",
    "docs/dvc-remote.md",
)
# Pages written on other branches at the same time (issue 16); the README links them already.
EXPECTED_LATER = {"docs/prediction-log.md", "docs/model-quality.md", "docs/retraining.md"}

# Words that belong to one value of an option only: (option, value) -> words that must not
# appear in the README or docs/ of a project generated with that value.
OTHER_MODES_WORDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("task", "regression"): ("ROC", "roc_auc", "confusion", "task: classification", "probabilities"),
    ("task", "classification"): ("residuals", "task: regression", "rmse"),
    ("dvc_remote", "none"): ("AWS_", "GCP_", "AZURE_", "DVC_SSH", "read role", "write role"),
    ("dvc_remote", "s3"): ("GCP_", "AZURE_", "DVC_SSH"),
    ("dvc_remote", "gcs"): ("AWS_", "AZURE_", "DVC_SSH"),
    ("dvc_remote", "azure"): ("AWS_", "GCP_", "DVC_SSH"),
    ("dvc_remote", "ssh"): ("AWS_", "GCP_", "AZURE_"),
    ("deploy", "argocd"): ("deploy.yml", "KUBECONFIG", "Deployments API", "rollout undo"),
    ("deploy", "actions"): ("argocd app", "AppProject", "Argo CD syncs", "k8s/argocd/project.yaml"),
    ("monitoring", "none"): ("ServiceMonitor", "PrometheusRule", "runbooks", "docs/monitoring.md"),
}
# A choice option's default is its first value (cookiecutter's rule).
CHOICES = json.loads((Path(__file__).resolve().parents[1] / "cookiecutter.json").read_text())
DEFAULTS = {option: CHOICES[option][0] for option, _ in OTHER_MODES_WORDS}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: bake(tmp_path_factory.mktemp(name), **SUPPORTED[name]) for name in COMBOS}


def pages(project: Path) -> list[Path]:
    return [project / "README.md", *sorted((project / "docs").rglob("*.md"))]


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces become hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.*)", line)):
            found.add(github_anchor(heading[1]))
    return found


def broken_links(project: Path, page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        inside = resolved.is_relative_to(project.resolve())
        relative = resolved.relative_to(project.resolve()).as_posix() if inside else path
        if relative in EXPECTED_LATER and not resolved.exists():
            continue
        if not resolved.exists():
            problems.append(f"{page.relative_to(project)}: {target}: no such file")
        elif anchor and anchor not in anchors(resolved):
            problems.append(f"{page.relative_to(project)}: {target}: no such heading")
    return problems


@pytest.mark.parametrize("name", COMBOS)
def test_readme_is_short_with_contents_and_first_day_steps(baked, name):
    readme = (baked[name] / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    headings = [line for line in lines if line.startswith("## ") or line.startswith("### ")]
    for heading in (
        "## Contents",
        "## What this repository is",
        "## Quickstart",
        "## First day",
        "### Before the first push",
        "### Before the first deploy",
        "## Documentation",
    ):
        assert heading in headings, heading
    order = [headings.index(h) for h in ("## What this repository is", "## Quickstart", "## First day")]
    assert order == sorted(order)
    assert "make github-setup" in readme
    for page in TOPIC_PAGES + tuple(sorted(EXPECTED_LATER)):
        assert f"]({page})" in readme, f"the README does not link {page}"
    monitored = SUPPORTED[name].get("monitoring", DEFAULTS["monitoring"]) != "none"
    assert ("](docs/monitoring.md)" in readme) is monitored


@pytest.mark.parametrize("name", COMBOS)
def test_every_link_resolves(baked, name):
    project = baked[name]
    problems = [problem for page in pages(project) for problem in broken_links(project, page)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", COMBOS)
def test_no_page_speaks_of_another_mode(baked, name):
    project = baked[name]
    answers = {**DEFAULTS, **SUPPORTED[name]}
    found = []
    for (option, value), words in OTHER_MODES_WORDS.items():
        if answers[option] != value:
            continue
        for page in pages(project):
            text = page.read_text()
            where = f"{page.relative_to(project)} ({option}={value})"
            found += [f"{where}: {word!r}" for word in words if word in text]
    assert not found, "\n".join(found)


def test_template_testing_notes_stay_out_of_projects(baked):
    for project in baked.values():
        for page in pages(project):
            text = page.read_text()
            assert "template's tests" not in text, page
            assert "What was verified" not in text, page

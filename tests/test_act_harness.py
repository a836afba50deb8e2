"""The act harness itself, on a tiny repository: every stand-in kind behaves like its action."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import git
from template_support.act import KIND_BY_REPO, make_stand_in, pull_request_event, run_act, workflow_actions
from template_support.act.runtime import KINDS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("act")]

SHA = {
    "checkout": "3d3c42e5aac5ba805825da76410c181273ba90b1",
    "setup-python": "5fda3b95a4ea91299a34e894583c3862153e4b97",
    "cache": "27d5ce7f107fe9357f9df03efb73ab90386fccae",
    "upload": "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
    "sticky": "5770ad5eb8f42dd2c4f34da00c94c5381e49af88",
    "meta": "dc802804100637a589fabce1cb79ff13a1411302",
    "download": "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
    "create-pr": "5f6978faf089d4d20b00c7766989d076bb2fc7f1",
}
WORKFLOW = f"""
name: harness
on: pull_request
permissions: {{}}
jobs:
  all:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@{SHA["checkout"]} # v7.0.1
      - uses: actions/setup-python@{SHA["setup-python"]} # v7.0.0
        with:
          python-version: "3.12"
      - name: python on PATH
        run: python -c "import sys; print('PYTHON', sys.executable)"
      - id: restore
        uses: actions/cache/restore@{SHA["cache"]} # v5.0.5
        with:
          path: store
          key: store-${{{{ hashFiles('input.txt') }}}}
          restore-keys: store-
      - name: fill the store
        env:
          HIT: ${{{{ steps.restore.outputs.cache-hit }}}}
        run: |
          echo "hit=$HIT"; ls store 2>/dev/null || true
          mkdir -p store && date +%N > store/stamp && cp input.txt store/
          echo "summary line" >> "$GITHUB_STEP_SUMMARY"
      - uses: actions/cache/save@{SHA["cache"]} # v5.0.5
        with:
          path: store
          key: store-${{{{ hashFiles('input.txt') }}}}
      - uses: actions/cache@{SHA["cache"]} # v5.0.5
        with:
          path: other
          key: other-1
      - run: mkdir -p other && echo x > other/x && echo "# Report" > report.md
      - uses: actions/upload-artifact@{SHA["upload"]} # v7.0.0
        with:
          name: out
          path: |
            report.md
            store/
      - id: meta
        uses: docker/metadata-action@{SHA["meta"]} # v6.2.0
        with:
          images: ghcr.io/o/r
      - name: use a recorded output
        env:
          TAGS: ${{{{ steps.meta.outputs.tags }}}}
        run: test "$TAGS" = "ghcr.io/o/r:pr-1"
      - uses: marocchino/sticky-pull-request-comment@{SHA["sticky"]} # v3.0.5
        with:
          header: h
          path: report.md
      - uses: actions/upload-artifact@{SHA["upload"]} # v7.0.0
        with:
          name: flags-a
          path: other/
      - uses: actions/download-artifact@{SHA["download"]} # v8.0.1
        with:
          pattern: flags-*
          merge-multiple: true
          path: downloaded
      - run: test -f downloaded/x && date +%N > pr-file.txt && echo "PR body" > pr-body.md
      - id: pr
        uses: peter-evans/create-pull-request@{SHA["create-pr"]} # v8.1.1
        with:
          branch: bot/x
          title: A title
          body-path: pr-body.md
          add-paths: pr-file.txt
      - env:
          OP: ${{{{ steps.pr.outputs.pull-request-operation }}}}
          NUMBER: ${{{{ steps.pr.outputs.pull-request-number }}}}
        run: echo "operation=$OP number=$NUMBER"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "harness.yml").write_text(WORKFLOW)
    (root / "input.txt").write_text("one\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def test_every_mapped_action_has_a_registered_kind():
    assert set(KIND_BY_REPO.values()) <= set(KINDS)
    with pytest.raises(ValueError, match="unknown stand-in kind"):
        make_stand_in("owner/action@0123456789abcdef", kind="no-such-kind")


def test_every_stand_in_kind(repo: Path):
    assert f"docker/metadata-action@{SHA['meta']}" in workflow_actions(repo)
    meta = make_stand_in(f"docker/metadata-action@{SHA['meta']}", outputs={"tags": "ghcr.io/o/r:pr-1"})
    event = pull_request_event(repo, base="main", number=1)
    stand_ins = {f"docker/metadata-action@{SHA['meta']}": meta}
    first = run_act(repo, "pull_request", ".github/workflows/harness.yml", event, stand_ins=stand_ins)
    assert first.ok, first
    assert f"PYTHON {sys.executable}" in first.logs
    assert first.summaries["all"] == "summary line\n"
    assert first.calls_to("actions/cache/restore")[0]["outputs"]["cache-hit"] == "false"
    assert first.calls_to("actions/cache/save")[0]["saved"] is True
    assert [c["phase"] for c in first.calls_to("actions/cache") if c["action"] == "actions/cache"] == [
        "main",
        "post",
    ]
    assert first.calls_to("docker/metadata-action")[0]["inputs"] == {"images": "ghcr.io/o/r"}
    assert sorted(p.name for p in (first.artifacts_dir / "out").iterdir()) == ["report.md", "store"]
    assert first.comments()[1]["h"] == {"id": 1, "body": "# Report\n", "creates": 1, "updates": 0}
    # One folder uploaded: its contents at the artifact's root, as on GitHub; downloaded by pattern.
    assert [p.name for p in (first.artifacts_dir / "flags-a").iterdir()] == ["x"]
    assert first.calls_to("actions/download-artifact")[0]["artifacts"] == ["flags-a"]
    pull = first.pulls()["bot/x"]
    assert (pull["creates"], pull["updates"], pull["number"]) == (1, 0, 101)
    assert pull["changed_files"] == ["pr-file.txt"] and pull["body"] == "PR body\n"
    assert pull["title"] == "A title" and "operation=created number=101" in first.logs

    second = run_act(repo, "pull_request", ".github/workflows/harness.yml", event, stand_ins=stand_ins)
    assert second.ok, second
    assert second.calls_to("actions/cache/restore")[0]["outputs"]["cache-hit"] == "true"
    assert "hit=true" in second.logs and "stamp" in second.logs  # the restored store was listed
    assert second.calls_to("actions/cache/save")[0]["saved"] is False  # immutable key
    assert second.comments()[1]["h"]["updates"] == 1 and second.comments()[1]["h"]["creates"] == 1
    pull = second.pulls()["bot/x"]  # the same branch: the same pull request, updated
    assert (pull["creates"], pull["updates"], pull["number"]) == (1, 1, 101)
    assert "operation=updated number=101" in second.logs

    # A changed key misses, then falls back to the newest entry with the prefix.
    (repo / "input.txt").write_text("two\n")
    git(repo, "commit", "-q", "-am", "change")
    third = run_act(repo, "pull_request", ".github/workflows/harness.yml", event, stand_ins=stand_ins)
    restored = third.calls_to("actions/cache/restore")[0]
    assert restored["outputs"]["cache-hit"] == "false" and restored["matched_key"].startswith("store-")


def test_a_failing_stand_in_fails_the_job(repo: Path):
    meta = make_stand_in(f"docker/metadata-action@{SHA['meta']}", exit_code=1)
    event = pull_request_event(repo, base="main", number=2)
    result = run_act(
        repo,
        "pull_request",
        ".github/workflows/harness.yml",
        event,
        stand_ins={f"docker/metadata-action@{SHA['meta']}": meta},
    )
    assert not result.ok
    assert result.jobs == {"all": "failure"}
    assert result.comments() == {}

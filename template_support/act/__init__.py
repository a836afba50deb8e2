"""Run a baked project's GitHub Actions workflows for real with ``act``, on this machine.

``act`` runs in self-hosted mode (``-P ubuntu-latest=-self-hosted``): every ``run:`` step is
executed as written by bash on the host, in a copy of the project's working tree (git history
included, gitignored files left out), exactly as a self-hosted runner would. ``actions/checkout``
of the repository itself is handled by act (it copies the tree). Only actions that need GitHub's
servers are replaced by local *stand-ins* (``--local-repository owner/name@<sha>=<dir>``): the
stand-in is a small node20 action whose main/post scripts run ``runtime.py`` (in this package)
with the test interpreter. Every stand-in records its call (inputs, phase, job) so a test can assert
on what the workflow would have sent.

The package's modules: ``standins`` (building the stand-in actions, and the kind each remote
action gets), ``runtime`` (what a stand-in does when the workflow calls it: the one registry of
kinds, ``runtime.KINDS``), ``events`` (event payloads from a project's git state), ``command``
(the act command line, and running it), ``result`` (reading act's JSON log), ``services``
(GitHub's Deployments API and concurrency rule, as documented).

Quick use::

    from template_support.act import run_act, pull_request_event

    result = run_act(project, "pull_request", ".github/workflows/train.yml",
                     event_payload=pull_request_event(project, base="main"))
    assert result.ok, result.logs
    body = result.comments()[1]["model-report"]["body"]       # sticky comment of PR #1
    result.calls_to("actions/upload-artifact")               # list of recorded calls

API
---
``run_act(project, event, workflow, event_payload=None, stand_ins=None, env=None, secrets=None,
vars=None, job=None, state_dir=None, timeout=900, extra_args=()) -> ActResult``
    ``stand_ins``: ``None`` builds one for every remote action the workflows (and the project's
    local composite actions) use, choosing the kind by repository (see ``KIND_BY_REPO``; anything
    unknown is a ``record`` stand-in). Pass a dict ``{"owner/name[/path]@ref": StandIn or kind
    or path}`` to override some of them (the rest are still built). ``env`` is passed with
    ``--env`` to every step; by default the steps get ``PYTHONPATH=src`` (the project's package
    from the workspace, deps from the test venv) and ``DVC_NO_ANALYTICS``. ``state_dir`` (default
    ``<project>/../act-state-<name>``) keeps what must survive between runs of the same project
    like on GitHub: the Actions cache, PR comments, artifacts, recorded calls.
    ``extra_args`` go to act as they are, e.g. ``("--matrix", "python-version:3.12")`` to run one
    matrix entry. Runs sharing a ``state_dir`` must not run at the same time (mark such tests
    with one ``xdist_group``); act's work folders live under ``state_dir/act-cache``.
``ActResult``: ``returncode``, ``ok`` (every job succeeded), ``logs`` (readable text),
    ``events`` (act's JSON log records), ``jobs`` ({job id: "success"/"failure"/...}),
    ``steps`` (list of {"job", "step", "stage", "result"}), ``summaries`` ({job id: Markdown of
    $GITHUB_STEP_SUMMARY}), ``told`` (logs and summaries), ``calls`` (the stand-in calls of this
    run), ``calls_to(prefix)``,
    ``comments()`` (the simulated PR comments: {pr number: {header: {"body", "creates",
    "updates", "id"}}}), ``pulls()`` (the simulated pull requests: {branch: {"number", "title",
    "body", "base", "token", "changed_files", "files", "creates", "updates", "state"}}),
    ``artifacts_dir`` (uploads of this run: ``<name>/<files>``),
    ``step_result(name_part)``.
``make_stand_in(name, kind="record", root=..., outputs=None, exit_code=0) -> StandIn``
    ``name`` is ``owner/repo@ref`` (a sub-path action such as ``actions/cache/restore@sha`` gets
    its folder under the repo's stand-in). Kinds: ``record`` (record inputs, set ``outputs``,
    exit with ``exit_code``), ``setup-python`` (no install: puts this test interpreter's folder
    on PATH and reports its version), ``cache`` / ``cache-restore`` / ``cache-save`` (a real
    cache kept in ``state_dir/cache``, exact key then restore-keys prefixes, newest first;
    the plain ``cache`` restores in main and saves in post like actions/cache),
    ``upload-artifact`` (copies the files to ``state_dir/artifacts/<run>/<name>``, relative to
    the search paths' least common ancestor like GitHub; honours ``if-no-files-found``),
    ``download-artifact`` (this run's artifacts by ``name`` or ``pattern`` into ``path``,
    ``merge-multiple``), ``create-pull-request`` (peter-evans/create-pull-request: stages
    ``add-paths``; ONE pull request per branch in ``state_dir/pulls.json``, created then
    updated, with its title, body, base, token, changed files and their contents; outputs
    ``pull-request-number`` and ``-operation``), ``sticky-comment``
    (marocchino/sticky-pull-request-comment: one comment per (PR, header) in
    ``state_dir/comments.json``; counts creates and updates; supports ``message``/``path``/
    ``append``/``recreate``/``delete``/``only_create``/``only_update``).
``pull_request_event(project, base="main", head=None, number=1, fork=False, action="synchronize")``,
``push_event(project, ref="refs/heads/main", before=None)``: event payloads with real SHAs from the repo.
``kubectl_stand_in(state)``: a recording kubectl (no API server) as azure/setup-kubectl.
``GitHubDeployments(state_dir)``: ``with`` it, a local server answering as GitHub's Deployments
    API (create, list, statuses; docs cited in runtime.py); pass ``env={"GITHUB_API_URL":
    api.url}``; ``deployments(env)`` reads what was recorded, ``record(...)`` seeds an apply.
``ConcurrencyGroup()``: GitHub's documented rule for one concurrency group with
    ``cancel-in-progress: false`` (one running, one pending, a newer pending run cancels it), to
    decide which of several quick runs a test executes.
``download-artifact`` with a ``pattern`` that matches nothing downloads nothing and succeeds, as
    GitHub documents; with a ``name`` that matches nothing it fails.
``workflow_actions(project)``: every ``owner/repo[/path]@ref`` the project's workflows use.

Inputs are recorded as the ``INPUT_*`` variables GitHub and act pass to actions: names are
lower-cased (``GITHUB_TOKEN`` is recorded as ``github_token``).
"""

from template_support.act.command import run_act
from template_support.act.events import ensure_origin, pull_request_event, push_event, repository
from template_support.act.result import ActResult
from template_support.act.services import ConcurrencyGroup, GitHubDeployments
from template_support.act.standins import (
    KIND_BY_REPO,
    StandIn,
    kubectl_stand_in,
    make_stand_in,
    workflow_actions,
)

__all__ = [
    "KIND_BY_REPO",
    "ActResult",
    "ConcurrencyGroup",
    "GitHubDeployments",
    "StandIn",
    "ensure_origin",
    "kubectl_stand_in",
    "make_stand_in",
    "pull_request_event",
    "push_event",
    "repository",
    "run_act",
    "workflow_actions",
]

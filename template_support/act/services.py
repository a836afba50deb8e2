"""Local stand-ins for GitHub services a workflow reaches during a run, as GitHub documents them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from template_support.act.runtime import DeploymentsApi, serve_deployments_api


class GitHubDeployments:
    """The stand-in for GitHub's Deployments API (``runtime.DeploymentsApi``, which cites the
    docs it follows), served on loopback while the ``with`` block runs. Give a run
    ``env={"GITHUB_API_URL": api.url}`` and its steps reach it as they would reach GitHub.
    ``STATE/deployments.json`` keeps the deployments between runs, like GitHub does."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = self.state_dir / "deployments.json"
        self.server: Any = None

    def __enter__(self) -> GitHubDeployments:
        self.server = serve_deployments_api(self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def deployments(self, environment: str | None = None) -> list[dict[str, Any]]:
        """Every deployment, oldest first, each with its ``statuses`` (oldest first)."""
        stored = json.loads(self.store.read_text())["deployments"] if self.store.exists() else []
        return [d for d in stored if environment in (None, d["environment"])]

    def record(self, repo: str, environment: str, sha: str, image: str, *states: str) -> int:
        """Seed an apply, as deploy.yml records one (through the API, as a client would)."""
        api = DeploymentsApi(self.store)
        body = {"ref": sha, "environment": environment, "task": "deploy:apply", "payload": {"image": image}}
        code, deployment = api.handle("POST", f"/repos/{repo}/deployments", body)
        assert code == 201, deployment
        for state in states:
            code, status = api.handle("POST", f"/repos/{repo}/deployments/{deployment['id']}/statuses",
                                      {"state": state})  # fmt: skip
            assert code == 201, status
        return deployment["id"]


class ConcurrencyGroup:
    """GitHub's rule for one concurrency group with ``cancel-in-progress: false``: at most one run
    in progress and one pending; a run that arrives while one is pending cancels the pending one
    (https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/control-the-concurrency-of-workflows-and-jobs).
    ``arrive(run)`` returns the run it cancelled (or None); ``finish()`` ends the running one and
    returns the pending run that starts (or None); ``started`` lists the runs that ever started."""

    def __init__(self) -> None:
        self.running: Any = None
        self.pending: Any = None
        self.started: list[Any] = []
        self.cancelled: list[Any] = []

    def arrive(self, run: Any) -> Any:
        if self.running is None:
            self.running = run
            self.started.append(run)
            return None
        cancelled, self.pending = self.pending, run
        if cancelled is not None:
            self.cancelled.append(cancelled)
        return cancelled

    def finish(self) -> Any:
        self.running, self.pending = self.pending, None
        if self.running is not None:
            self.started.append(self.running)
        return self.running

"""The act command line for one run of a project's workflow, and running it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from template_support.act.events import ensure_origin
from template_support.act.result import ActResult, parse_output
from template_support.act.standins import (
    ACT,
    HANDLED_BY_ACT,
    PLATFORM,
    StandIn,
    kind_for,
    make_stand_in,
    split_uses,
    workflow_actions,
)
from template_support.project import TOOLS_PATH


def run_act(
    project: Path,
    event: str,
    workflow: str,
    event_payload: dict[str, Any] | None = None,
    stand_ins: dict[str, StandIn | str | Path] | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    vars: dict[str, str] | None = None,  # act's own word
    job: str | None = None,
    state_dir: Path | None = None,
    timeout: float = 900,
    extra_args: tuple[str, ...] = (),
) -> ActResult:
    """Run ``act <event> -W <workflow>`` on ``project`` (a git repo) and collect what happened."""
    project = Path(project).resolve()
    ensure_origin(project)
    state = Path(state_dir) if state_dir else project.parent / f"act-state-{project.name}"
    state.mkdir(parents=True, exist_ok=True)
    runs = sorted(state.glob("run-*"))
    run_id = f"run-{len(runs) + 1}"
    run_dir = state / run_id
    run_dir.mkdir()
    calls_file = state / "calls.jsonl"
    calls_before = calls_file.stat().st_size if calls_file.exists() else 0

    def prepare(name: str, given: StandIn | str | Path | None, default_kind: str) -> StandIn:
        repo, _, ref = split_uses(name)
        if isinstance(given, Path):
            return StandIn(repo, ref, given, "custom")
        if isinstance(given, StandIn):  # rebuilt in this state folder so its records land here
            return make_stand_in(
                f"{given.repo}@{given.ref}",
                given.kind,
                root=state / "stand-ins",
                state_dir=state,
                outputs=dict(given.outputs),
                exit_code=given.exit_code,
            )
        return make_stand_in(
            f"{repo}@{ref}", given or default_kind, root=state / "stand-ins", state_dir=state
        )

    # Stand-ins are per repository@ref (act's --local-repository); sub-path actions such as
    # actions/cache/restore live in sub-folders of their repository's stand-in.
    chosen: dict[str, StandIn] = {}
    overrides = dict(stand_ins or {})
    for uses in workflow_actions(project):
        repo, _, ref = split_uses(uses)
        if repo in HANDLED_BY_ACT or f"{repo}@{ref}" in chosen:
            continue
        given = overrides.pop(uses, None) or overrides.pop(f"{repo}@{ref}", None)
        default = "cache" if repo == "actions/cache" else kind_for(uses)
        chosen[f"{repo}@{ref}"] = prepare(uses, given, default)
    for name, given in overrides.items():  # stand-ins for actions no workflow file names directly
        stand_in = prepare(name, given, "record")
        chosen[f"{stand_in.repo}@{stand_in.ref}"] = stand_in

    event_file = run_dir / "event.json"
    event_file.write_text(json.dumps(event_payload or {}))
    empty = run_dir / "empty"
    empty.write_text("")
    step_env = {"PYTHONPATH": "src", "DVC_NO_ANALYTICS": "1", "ACT_STANDIN_RUN": run_id, **(env or {})}
    cmd = [
        ACT,
        event,
        "--json",
        "-W",
        workflow,
        "-P",
        PLATFORM,
        "-e",
        str(event_file),
        "--no-cache-server",
        "--action-cache-path",
        str(state / "act-cache"),
        "--env-file",
        str(empty),
        "--secret-file",
        str(empty),
        "--var-file",
        str(empty),
        "--input-file",
        str(empty),
    ]
    for stand_in in chosen.values():
        cmd += ["--local-repository", stand_in.local_repository]
    for key, value in step_env.items():
        cmd += ["--env", f"{key}={value}"]
    for key, value in (secrets or {}).items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in (vars or {}).items():
        cmd += ["--var", f"{key}={value}"]
    if job:
        cmd += ["-j", job]
    cmd += list(extra_args)

    proc_env = dict(os.environ)
    proc_env["PATH"] = f"{TOOLS_PATH}{os.pathsep}{proc_env.get('PATH', '')}"
    proc = subprocess.Popen(
        cmd,
        cwd=project,
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n[harness] act killed after {timeout} s"
    (run_dir / "act.log.jsonl").write_text(output)

    events, text = parse_output(output)
    calls: list[dict[str, Any]] = []
    if calls_file.exists():
        with calls_file.open() as fh:
            fh.seek(calls_before)
            calls = [json.loads(line) for line in fh if line.strip()]
    return ActResult(
        proc.returncode if proc.returncode is not None else -9,
        text,
        events,
        calls,
        state,
        run_id,
        cmd,
    )

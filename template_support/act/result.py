"""What one act run did, read from act's JSON log and the stand-ins' records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(repr=False)
class ActResult:
    returncode: int
    logs: str
    events: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    state_dir: Path
    run_id: str
    command: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> dict[str, str]:
        return {e.get("jobID", e.get("job")): e["jobResult"] for e in self.events if "jobResult" in e}

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.jobs) and all(r == "success" for r in self.jobs.values())

    @property
    def steps(self) -> list[dict[str, str]]:
        return [
            {
                "job": e.get("jobID", ""),
                "step": e.get("step", ""),
                "stage": e.get("stage", ""),
                "result": e["stepResult"],
            }
            for e in self.events
            if "stepResult" in e
        ]

    def step_result(self, name_part: str, stage: str = "Main") -> str | None:
        """Result of the first step whose name contains ``name_part`` (None: not run / skipped)."""
        for step in self.steps:
            if name_part in step["step"] and step["stage"] == stage:
                return step["result"]
        return None

    @property
    def summaries(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.events:
            if e.get("command") == "summary":
                job = e.get("jobID", "")
                out[job] = out.get(job, "") + e.get("content", "")
        return out

    @property
    def told(self) -> str:
        """What the run told its reader: the log, then the job summaries. Assert on this for a
        message a step prints just before it exits: act may drop such a last line from its log."""
        return self.logs + "\n" + "\n".join(self.summaries.values())

    def calls_to(self, prefix: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["action"].startswith(prefix)]

    def comments(self) -> dict[int, dict[str, dict[str, Any]]]:
        store = self.state_dir / "comments.json"
        if not store.exists():
            return {}
        return {int(k): v for k, v in json.loads(store.read_text())["prs"].items()}

    def pulls(self) -> dict[str, dict[str, Any]]:
        store = self.state_dir / "pulls.json"
        return json.loads(store.read_text())["branches"] if store.exists() else {}

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / "artifacts" / self.run_id

    def __repr__(self) -> str:  # what a failed assertion shows: the end of the log
        return f"act exited {self.returncode}; jobs {self.jobs}\n{self.logs[-20000:]}"


def _format_event(e: dict[str, Any]) -> str:
    msg = e.get("msg", "").rstrip("\n")
    job = e.get("jobID") or e.get("job") or "act"
    return "\n".join(f"[{job}] {line}" for line in msg.splitlines()) if msg else ""


def parse_output(output: str) -> tuple[list[dict[str, Any]], str]:
    """act's ``--json`` output: its records, and the run as readable text (``[job] line``)."""
    events: list[dict[str, Any]] = []
    text: list[str] = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            text.append(line)
            continue
        if isinstance(record, dict):
            events.append(record)
            formatted = _format_event(record)
            if formatted:
                text.append(formatted)
        else:
            text.append(line)
    return events, "\n".join(text)

"""The result of a model-quality check as a typed object, and its two written forms:
``summary.json`` (``to_dict``, every number) and ``summary.md`` (``to_markdown``, for job
summaries and the retraining pull request). Exit codes are the drift check's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .drift_summary import EXIT_DRIFT, EXIT_ERROR, EXIT_OK, Finding, Sampling

EXIT_CODES = {
    "pass": EXIT_OK,
    "not_enough_labels": EXIT_OK,  # a notice, not a failure: no retraining pull request
    "fail": EXIT_DRIFT,
    "error": EXIT_ERROR,
}
VERDICTS = {
    "pass": "passed",
    "fail": "**failed**",
    "not_enough_labels": "not enough labels",
    "error": "**could not run**",
}
TABLE_HEAD = [
    "| metric | production | metrics.json | worst acceptable | passed |",
    "|---|---:|---:|---:|---|",
]


@dataclass
class Counts:
    """How many predictions and labels were read, and how many of them met."""

    logged: int = 0  # predictions in the logs
    in_window: int = 0  # distinct prediction ids made within the look-back window
    duplicate_predictions: int = 0  # repeated ids in the window (the first one counts)
    labels: int = 0  # label rows read
    duplicate_labels: int = 0  # repeated ids among the labels (the latest one counts)
    labelled: int = 0  # predictions in the window that have a label
    coverage: float = 0.0  # labelled / in_window


@dataclass
class MetricResult:
    """One metric on the labelled production rows, by Evidently, and its threshold's test."""

    value: float | None
    committed: float | None = None  # metrics.json: the model on its test split
    bound: float | None = None  # the worst acceptable value (min or max, and max_drop)
    passed: bool | None = None  # None: no threshold for this metric


@dataclass
class QualitySummary:
    verdict: str  # pass | fail | not_enough_labels | error
    error: str | None
    task: str
    window_start: str
    window_end: str
    min_labelled_rows: int
    sources: dict[str, str]
    counts: Counts = field(default_factory=Counts)
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    sampling: Sampling | None = None
    findings: list[Finding] = field(default_factory=list)
    report: str | None = None  # report.html, once written
    labelled_rows: str | None = None  # labelled.csv, once written

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.metrics.items() if result.passed is False]

    def to_dict(self) -> dict[str, Any]:
        """The layout of summary.json."""
        payload = asdict(self)
        return payload | {"exit_code": self.exit_code, "failed_metrics": self.failed}

    def to_markdown(self) -> str:
        """The layout of summary.md."""
        counts = self.counts
        lines = [f"### Model quality check: {VERDICTS[self.verdict]}", ""]
        if self.error:
            lines += [f"Error: {self.error}", ""]
        lines += [
            f"- Predictions: `{self.sources['predictions']}`, {counts.in_window:,} made from "
            f"{self.window_start} to {self.window_end} ({counts.logged:,} logged)",
            f"- Labels: `{self.sources['labels']}`, {counts.labels:,} read",
            f"- Labelled predictions: {counts.labelled:,} ({counts.coverage:.1%} coverage); "
            f"at least {self.min_labelled_rows:,} needed",
        ]
        if self.failed:
            lines.append(f"- Failed: {', '.join(self.failed)}")
        lines += [f"- {f.severity}: {f.message}" for f in self.findings]
        lines += self._metrics_markdown()
        if self.sampling:
            lines += ["", f"_{self.sampling.description}_"]
        return "\n".join([*lines, ""])

    def _metrics_markdown(self) -> list[str]:
        if not self.metrics:
            return []
        lines = ["", *TABLE_HEAD]
        for name, result in self.metrics.items():
            passed = {None: "-", True: "yes", False: "**no**"}[result.passed]
            cells = [name, *map(_number, (result.value, result.committed, result.bound)), passed]
            lines.append("| " + " | ".join(cells) + " |")
        return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"

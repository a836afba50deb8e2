"""The result of a drift check as a typed object, and its two written forms: ``summary.json``
(``to_dict``, every number) and ``summary.md`` (``to_markdown``, for job summaries and the
retraining pull request)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .config import DriftParams

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
EXIT_CODES = {"no_drift": EXIT_OK, "drift": EXIT_DRIFT, "error": EXIT_ERROR}
MD_MAX_ROWS = 25  # summary.md lists at most this many columns (summary.json has them all)
VERDICTS = {"drift": "**drift detected**", "no_drift": "no drift", "error": "**could not run**"}
TABLE_HEAD = [
    "| column | type | method | score | threshold | drift |",
    "|---|---|---|---:|---:|---|",
]


@dataclass
class Finding:
    """A schema finding; severity "error" counts as drift, "warning" does not."""

    severity: str
    kind: str
    message: str
    column: str | None = None


@dataclass
class ColumnDrift:
    """One checked column: Evidently's verdict, or a schema error's (method "schema")."""

    type: str  # numerical | categorical
    drift: bool
    score: float | None
    method: str
    stat: str  # p_value | distance | schema
    threshold: float | None
    reference_rows: int = 0
    current_rows: int = 0
    current_missing_share: float | None = None

    @classmethod
    def schema_error(cls, kind: str) -> ColumnDrift:
        return cls(kind, drift=True, score=None, method="schema", stat="schema", threshold=None)


@dataclass
class Side:
    """One side of the comparison: its source, its rows, and the rows of its sample."""

    source: str
    rows: int
    sampled_rows: int


@dataclass
class Sampling:
    sample_rows: int
    report_rows: int
    seed: int
    description: str


@dataclass
class DriftSummary:
    verdict: str  # drift | no_drift | error
    error: str | None
    dataset_drift: bool
    drifted_share: float
    drifted_columns: int
    columns_checked: int
    drift_share_threshold: float
    reference: Side
    current: Side
    sampling: Sampling
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    report: str | None = None  # report.html, once written

    @classmethod
    def build(
        cls,
        sides: tuple[Side, Side],
        settings: DriftParams,
        columns: dict[str, ColumnDrift],
        findings: list[Finding],
        error: str | None = None,
    ) -> DriftSummary:
        """The verdict from the columns (the preset's rule: dataset drift when at least
        ``drift_share`` of them drifted) and the findings (a schema error counts as drift)."""
        reference, current = sides
        drifted = sum(column.drift for column in columns.values())
        share = drifted / len(columns) if columns else 0.0
        dataset_drift = bool(columns) and share >= settings.drift_share
        schema_error = any(finding.severity == "error" for finding in findings)
        if error:
            verdict = "error"
        elif dataset_drift or schema_error:
            verdict = "drift"
        else:
            verdict = "no_drift"
        return cls(
            verdict=verdict,
            error=error,
            dataset_drift=dataset_drift,
            drifted_share=round(share, 6),
            drifted_columns=drifted,
            columns_checked=len(columns),
            drift_share_threshold=settings.drift_share,
            reference=reference,
            current=current,
            sampling=_sampling(reference, current, settings),
            columns=columns,
            findings=findings,
        )

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def schema_ok(self) -> bool:
        return not self.error and not any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The layout of summary.json."""
        payload = asdict(self)
        del payload["findings"]
        if self.report is None:
            del payload["report"]
        schema = {"ok": self.schema_ok, "findings": [asdict(f) for f in self.findings]}
        return payload | {"exit_code": self.exit_code, "schema": schema}

    def to_markdown(self) -> str:
        """The layout of summary.md."""
        lines = [f"### Data drift check: {VERDICTS[self.verdict]}", ""]
        if self.error:
            lines += [f"Error: {self.error}", ""]
        for name, side in (("Reference", self.reference), ("Current", self.current)):
            lines.append(f"- {name}: `{side.source}` ({side.rows:,} rows)")
        if self.columns_checked:
            lines.append(
                f"- Drifted columns: {self.drifted_columns} of {self.columns_checked} "
                f"({self.drifted_share:.1%}); dataset drift when at least "
                f"{self.drift_share_threshold:.0%}: **{'yes' if self.dataset_drift else 'no'}**"
            )
        lines += self._findings_markdown() + self._columns_markdown()
        return "\n".join([*lines, "", f"_{self.sampling.description}_", ""])

    def _findings_markdown(self) -> list[str]:
        if not self.findings:
            return []
        errors_first = sorted(self.findings, key=lambda finding: finding.severity != "error")
        lines = ["", "**Schema findings**", ""]
        return lines + [f"- {f.severity} ({f.kind}): {f.message}" for f in errors_first]

    def _columns_markdown(self) -> list[str]:
        if not self.columns:
            return []
        drifted_first = sorted(self.columns.items(), key=lambda item: (not item[1].drift, item[0]))
        lines = ["", *TABLE_HEAD]
        for name, column in drifted_first[:MD_MAX_ROWS]:
            cells = [
                name,
                column.type,
                column.method,
                _number(column.score),
                _number(column.threshold),
                "**yes**" if column.drift else "no",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        hidden = len(drifted_first) - MD_MAX_ROWS
        if hidden > 0:
            lines.append(f"\n{hidden} more column(s) without drift in `summary.json`.")
        return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _sampling(reference: Side, current: Side, settings: DriftParams) -> Sampling:
    rows = max(reference.sampled_rows, current.sampled_rows)
    if rows >= max(reference.rows, current.rows):
        how = "all rows"
    else:
        how = (
            f"a seeded uniform sample of at most {settings.sample_rows:,} rows a side "
            f"(seed {settings.seed})"
        )
    description = (
        f"Evidently's DataDriftPreset, run once on {how}: the source of every number here."
    )
    return Sampling(settings.sample_rows, rows, settings.seed, description)

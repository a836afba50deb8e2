"""Compare this working tree's model with a base git revision, as a Markdown report.

DVC states the facts: ``dvc metrics diff``, ``dvc params diff`` and ``dvc diff`` (data and model
files, by hash), all ``--json`` against the base revision. The base's plot data (small CSVs
committed with ``cache: false``) comes from ``git show``. This module only presents them: every
metric with its change, better or worse for that metric (``evaluate.LOWER_IS_BETTER``), the
primary metric first; changed params and files; Mermaid ``xychart-beta`` charts, which GitHub
renders in a comment (no image host): the ROC curve and confusion matrix, or predicted-vs-actual
and residuals. Each chart's title carries its metric, and the ROC line plots the mean true-positive
rate per false-positive-rate cell, whose average is the AUC: a changed AUC always moves the line.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Params
from .errors import UserError
from .evaluate import LOWER_IS_BETTER, METRICS_FILE, PLOTS_DIR

TITLE = "Model report"
BASE_COLOUR, NEW_COLOUR, IDEAL_COLOUR = "#9ca3af", "#2563eb", "#16a34a"  # grey, blue, green
CELLS, BINS, TOLERANCE = 20, 10, 1e-9
MARKS = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "unchanged": "⚪ unchanged",
    "new": "🆕 new",
    "removed": "✖️ removed",
}


def _run(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()] or [
            f"exit code {result.returncode}"
        ]
        raise UserError(f"`{' '.join(args)}` failed: {lines[-1]}")
    return result.stdout


def dvc_diff(*args: str) -> dict[str, Any]:
    """The JSON of ``dvc <args> --json``."""
    return json.loads(_run([sys.executable, "-m", "dvc", *args, "--json"]) or "{}")


def resolve_rev(rev: str) -> str:
    try:
        return _run(["git", "rev-parse", "--verify", "--quiet", rev + "^{commit}"]).strip()
    except UserError:
        raise UserError(
            f"base revision {rev!r} is not in this git repository: fetch it "
            "(in CI: actions/checkout with fetch-depth: 0) or name another branch or commit"
        ) from None


@dataclass(frozen=True)
class MetricRow:
    name: str
    base: float | None
    new: float | None
    primary: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.name.rsplit(".", 1)[-1] in LOWER_IS_BETTER

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def verdict(self) -> str:
        if self.base is None or self.new is None:
            return "new" if self.base is None else "removed"
        if abs(self.delta) <= TOLERANCE:
            return "unchanged"
        return "better" if (self.delta < 0) == self.lower_is_better else "worse"


def metric_rows(sha: str, primary: str | None) -> list[MetricRow]:
    """Every metric of ``dvc metrics diff --all``, the primary one first."""
    number = lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None  # noqa: E731
    found = {
        k: (number(v.get("old")), number(v.get("new")))
        for f in dvc_diff("metrics", "diff", "--all", sha).values()
        for k, v in f.items()
    }
    rows = [
        MetricRow(k, old, new, k == primary) for k, (old, new) in found.items() if (old, new) != (None, None)
    ]
    return sorted(rows, key=lambda r: (not r.primary, r.name))


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{json.dumps(value) if isinstance(value, list | dict) else value}`"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def fmt_delta(row: MetricRow) -> str:
    if row.delta is None:
        return "—"
    if abs(row.delta) <= TOLERANCE:
        return "= 0"
    relative = f" ({row.delta / abs(row.base) * 100:+.1f}%)" if row.base else ""
    return f"{'▲' if row.delta > 0 else '▼'} {row.delta:+.4f}{relative}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]


# ------------------------------------------------------------------------------ charts
def mermaid_chart(
    title: str, x_axis: str, y_axis: str, series: list[tuple[str, str, str, list[float]]]
) -> list[str]:
    """A Mermaid xychart-beta block and its legend; ``series`` = [(kind line|bar, label, colour, values)]."""
    colours = ", ".join(colour for _, _, colour, _ in series)
    names = {BASE_COLOUR: "grey", NEW_COLOUR: "blue", IDEAL_COLOUR: "green"}
    legend = ", ".join(f"{names[colour]}: {label}" for _, label, colour, _ in series)
    head = [
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{colours}"',
    ]
    lines = [*head, "---", "xychart-beta", f'  title "{title}"', f"  x-axis {x_axis}", f"  y-axis {y_axis}"]
    lines += [
        f"  {kind} [{', '.join(f'{v:.4g}' for v in np.nan_to_num(values))}]" for kind, _, _, values in series
    ]
    return [*lines, "```", f"<sub>{legend}</sub>", ""]


def roc_cells(frame: pd.DataFrame, cells: int = CELLS) -> list[float]:
    """Mean true-positive rate per even false-positive-rate cell of the (linear) ROC curve: their
    average is the curve's AUC, so any change of the AUC changes at least one value."""
    frame = frame.sort_values(["fpr", "tpr"])
    fpr, tpr = frame["fpr"].to_numpy(dtype=float), frame["tpr"].to_numpy(dtype=float)
    grid = np.linspace(0.0, 1.0, cells + 1)
    x = np.concatenate([fpr, grid])
    y = np.concatenate([tpr, np.interp(grid, fpr, tpr)])
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    area = np.concatenate([[0.0], np.cumsum(np.diff(x) * (y[1:] + y[:-1]) / 2)])
    return list(np.diff(np.interp(grid, x, area)) * cells)


def _metric(rows: list[MetricRow], name: str, base_name: str) -> str:
    row = next((r for r in rows if r.name == name), None)
    if row is None or row.new is None:
        return ""
    return (
        f" ({name} {base_name} {fmt(row.base)} → {fmt(row.new)})"
        if row.base is not None
        else f" ({name} {fmt(row.new)})"
    )


def plot_sections(
    plots: dict[str, tuple[pd.DataFrame | None, pd.DataFrame | None]], rows, base_name
) -> list[str]:
    lines: list[str] = []
    both = lambda name, *cols: [  # noqa: E731
        (f, label, colour)
        for f, label, colour in zip(plots[name], (base_name, "this PR"), (BASE_COLOUR, NEW_COLOUR))
        if f is not None and set(cols) <= set(f.columns)
    ]
    if roc := both("roc.csv", "fpr", "tpr"):
        series = [("line", label, colour, roc_cells(f)) for f, label, colour in roc]
        x_axis = f'"false positive rate, {CELLS} cells" 0 --> 1'
        lines += [
            "#### ROC curve",
            "",
            *mermaid_chart(
                "ROC curve" + _metric(rows, "roc_auc", base_name),
                x_axis,
                '"mean true positive rate" 0 --> 1',
                series,
            ),
        ]
    if confusion := both("confusion.csv", "actual", "predicted"):
        counts = [pd.crosstab(f["actual"].astype(str), f["predicted"].astype(str)) for f, _, _ in confusion]
        labels = sorted(set().union(*(set(c.index) | set(c.columns) for c in counts)))
        cell = lambda c, a, p: int(c.at[a, p]) if a in c.index and p in c.columns else 0  # noqa: E731
        body = []
        for a in labels:
            cells = [
                f"**{cell(counts[-1], a, p)}**" if a == p else str(cell(counts[-1], a, p)) for p in labels
            ]
            if len(counts) == 2:
                change = [cell(counts[1], a, p) - cell(counts[0], a, p) for p in labels]
                cells = [c + (f" ({d:+d})" if d else "") for c, d in zip(cells, change, strict=True)]
            body.append([f"`{a}`", *cells])
        note = f"Each cell: this PR (change from {base_name})." if len(counts) == 2 else "This PR's counts."
        lines += ["#### Confusion matrix", "", f"Rows: actual class, columns: predicted class. {note}", ""]
        lines += [*table(["actual \\ predicted", *(f"`{p}`" for p in labels)], body), ""]
    if predictions := both("predictions.csv", "actual", "predicted"):
        actual = np.concatenate([f["actual"].to_numpy(dtype=float) for f, _, _ in predictions])
        edges = np.linspace(actual.min(), actual.max(), BINS + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        series = [("line", "ideal (predicted = actual)", IDEAL_COLOUR, list(centres))]
        for f, label, colour in predictions:
            bins = np.clip(np.digitize(f["actual"].to_numpy(dtype=float), edges[1:-1]), 0, BINS - 1)
            means = pd.Series(f["predicted"].to_numpy(dtype=float)).groupby(bins).mean().reindex(range(BINS))
            series.append(("line", label, colour, list(means.interpolate(limit_direction="both"))))
        x_axis = '"actual" [' + ", ".join(f'"{c:.3g}"' for c in centres) + "]"
        title = "Mean prediction per range of actual values" + _metric(rows, "rmse", base_name)
        lines += ["#### Predicted vs actual", "", *mermaid_chart(title, x_axis, '"predicted"', series)]
    if residuals := both("residuals.csv", "residual"):
        spread = max(float(np.abs(f["residual"].to_numpy(dtype=float)).max()) for f, _, _ in residuals) or 1.0
        edges = np.linspace(-spread, spread, BINS + 1)
        series = [
            (
                "bar" if label == "this PR" else "line",
                f"{label} ({'bars' if label == 'this PR' else 'line'})",
                colour,
                list(np.histogram(f["residual"].to_numpy(dtype=float), edges)[0]),
            )
            for f, label, colour in reversed(residuals)
        ]
        x_axis = '"residual" [' + ", ".join(f'"{c:.3g}"' for c in (edges[:-1] + edges[1:]) / 2) + "]"
        title = "Residuals (actual - predicted)" + _metric(rows, "mae", base_name)
        lines += ["#### Residual distribution", "", *mermaid_chart(title, x_axis, '"test rows"', series)]
    return lines


# ------------------------------------------------------------------------------ the report
def _csv(text: str | None) -> pd.DataFrame | None:
    try:
        return pd.read_csv(io.StringIO(text)) if text else None
    except (ValueError, pd.errors.ParserError):
        return None


def build_report(base: str, base_name: str | None = None, primary: str | None = None) -> str:
    """The Markdown report comparing the working tree (run from the project root) with git revision ``base``."""
    sha, base_name = resolve_rev(base), base_name or base
    if not Path(METRICS_FILE).is_file():
        raise UserError(f"{METRICS_FILE} is missing in the working tree: run `make repro` first")
    rows = metric_rows(sha, primary)
    lines, head = (
        [f"## {TITLE}: this pull request vs `{base_name}` ({sha[:7]})", ""],
        rows[0] if rows else None,
    )
    if head is not None and head.primary and head.base is not None:
        lines.append(
            f"Primary metric **{head.name}**: {fmt(head.base)} → {fmt(head.new)} ({fmt_delta(head)}) "
            f"{MARKS[head.verdict]}"
        )
    elif all(r.base is None for r in rows):
        lines.append(f"`{base_name}` has no `{METRICS_FILE}` yet: every metric below is new.")
    body = [
        [
            (f"**{r.name}** (primary)" if r.primary else r.name)
            + f" <sub>{'lower' if r.lower_is_better else 'higher'} is better</sub>",
            fmt(r.base),
            fmt(r.new),
            fmt_delta(r),
            MARKS[r.verdict],
        ]
        for r in rows
    ]
    lines += ["", "### Metrics", "", *table(["metric", f"`{base_name}`", "this PR", "change", ""], body), ""]
    params = [
        [f"`{k}`", fmt(v.get("old")), fmt(v.get("new"))]
        for f in dvc_diff("params", "diff", sha).values()
        for k, v in f.items()
    ]
    lines += [
        "### Params",
        "",
        *(table(["param", f"`{base_name}`", "this PR"], params) if params else ["No param changed."]),
        "",
    ]
    files = dvc_diff("diff", "--show-hash", sha)
    data = [
        [
            f"`{e['path']}`",
            change,
            fmt((e.get("hash") or {}).get("old")),
            fmt((e.get("hash") or {}).get("new")),
        ]
        for change in ("added", "deleted", "modified", "renamed")
        for e in files.get(change, [])
    ]
    if data:
        lines += [
            "### Data and model files (DVC)",
            "",
            *table(["file", "change", "hash before", "hash now"], data),
            "",
        ]
    plots = {}
    for name in ("roc.csv", "confusion.csv", "predictions.csv", "residuals.csv"):
        shown = subprocess.run(
            ["git", "show", f"{sha}:{(PLOTS_DIR / name).as_posix()}"], capture_output=True, text=True
        )
        plots[name] = (
            _csv(shown.stdout if shown.returncode == 0 else None),
            _csv(path.read_text() if (path := PLOTS_DIR / name).is_file() else None),
        )
    if sections := plot_sections(plots, rows, base_name):
        lines += ["### Plots", "", *sections]
    lines += [
        "<sub>Metrics, params and files: `dvc metrics diff`, `dvc params diff` and `dvc diff` against the "
        "base. The full plot files are in this run's artifacts.</sub>",
        "",
    ]
    return "\n".join(lines)


def retrain_pull_request(
    params: Params, base: str = "HEAD", base_name: str = "main", run_url: str | None = None
) -> tuple[str, str]:
    """Title and body of the retraining pull request (drift workflow, after `dvc repro` on drifted data):
    the drift summary, a link to the run and the model report; the title says when the model got worse."""
    primary = params.evaluate.primary_metric
    summary = params.drift.output_dir / "summary.md"
    verdict, line = "unknown", f"no `{primary}` to compare"
    try:
        report = build_report(base, base_name, primary)
        row = next((r for r in metric_rows(resolve_rev(base), primary) if r.primary), None)
        if row is not None and row.base is not None and row.new is not None:
            verdict, line = row.verdict, f"{primary} {fmt(row.base)} → {fmt(row.new)}"
    except UserError as exc:
        report = f"_The metrics could not be compared with `{base_name}`: {exc}_\n"
    titles = {
        "worse": f"WORSE than {base_name} on {primary} ({line})",
        "better": f"{line} (better than {base_name})",
        "unchanged": f"{line} (unchanged vs {base_name})",
    }
    title = (
        f"Retrain on drifted data: {titles[verdict]}"
        if verdict in titles
        else f"Retrain on drifted data ({line})"
    )
    lines = [
        "## Retraining after data drift",
        "",
        "The scheduled drift check found drift in the current data. This pull request retrains the model on "
        "the refreshed data (`dvc repro`): the new data version (`.dvc`), `dvc.lock`, metrics and plots. The new "
        "data and model are in the DVC remote when one is configured.",
        "",
    ]
    if verdict == "worse":
        lines += [
            "> [!WARNING]",
            f"> **The retrained model is worse than `{base_name}` on the primary metric**: {line}.",
            "> It is proposed anyway so that people decide: merge it, change it, or close it.",
            "",
        ]
    lines += [f"Drift report (HTML, artifact `drift-report`) and logs: {run_url}", ""] if run_url else []
    drift_md = summary.read_text(encoding="utf-8").strip() if summary.is_file() else ""
    return title, "\n".join([*lines, drift_md, "", report.strip(), ""])

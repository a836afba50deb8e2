"""Compare this working tree's model with a base git revision, as a Markdown report.

DVC states the facts, as JSON against the base: ``dvc metrics diff``, ``params diff`` and ``diff`` (data and
model files); the base's plot CSVs come from ``git show``. This module presents them: metrics marked better
or worse, the primary one first; changed params and files; Mermaid charts, which GitHub renders in a comment,
each titled with its metric (the ROC line's cells average to the AUC: a changed AUC moves it).
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

COLOURS = {"#9ca3af": "grey", "#2563eb": "blue", "#16a34a": "green"}
GREY, BLUE, GREEN = COLOURS
CELLS, BINS, TOLERANCE = 20, 10, 1e-9
MARKS = dict(
    better="🟢 better", worse="🔴 worse", unchanged="⚪ unchanged", new="🆕 new", removed="✖️ removed"
)


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        cause = [line for line in result.stderr.splitlines() if line.strip()] or [f"exit {result.returncode}"]
        raise UserError(f"`{' '.join(args)}` failed: {cause[-1]}")
    return result.stdout


def dvc_diff(*args: str) -> Any:
    """``dvc <args> --json``; for metrics and params, its (name, {old, new}) pairs over all files."""
    diff = json.loads(_run(sys.executable, "-m", "dvc", *args, "--json") or "{}")
    return diff if args[0] == "diff" else [item for entries in diff.values() for item in entries.items()]


def resolve_rev(rev: str) -> str:
    try:
        return _run("git", "rev-parse", "--verify", "--quiet", rev + "^{commit}").strip()
    except UserError:
        fix = "fetch it (in CI: actions/checkout with fetch-depth: 0) or name another branch or commit"
        raise UserError(f"base revision {rev!r} is not in this git repository: {fix}") from None


@dataclass(frozen=True)
class MetricRow:
    name: str
    base: float | None
    new: float | None
    primary: bool = False

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def lower_is_better(self) -> bool:
        return self.name.rsplit(".", 1)[-1] in LOWER_IS_BETTER

    @property
    def label(self) -> str:
        name = f"**{self.name}** (primary)" if self.primary else self.name
        return f"{name} <sub>{'lower' if self.lower_is_better else 'higher'} is better</sub>"

    @property
    def verdict(self) -> str:
        if self.delta is None:
            return "new" if self.base is None else "removed"
        if abs(self.delta) <= TOLERANCE:
            return "unchanged"
        return "better" if (self.delta < 0) == self.lower_is_better else "worse"


def metric_rows(sha: str, primary: str | None) -> list[MetricRow]:
    """Every metric of ``dvc metrics diff --all``, the primary one first."""
    number = lambda v: v if type(v) in (int, float) else None  # noqa: E731
    pairs = dvc_diff("metrics", "diff", "--all", sha)
    rows = [MetricRow(k, number(v.get("old")), number(v.get("new")), k == primary) for k, v in pairs]
    return sorted((r for r in rows if (r.base, r.new) != (None, None)), key=lambda r: (not r.primary, r.name))


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{json.dumps(value) if isinstance(value, list | dict) else value}`"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def fmt_delta(row: MetricRow) -> str:
    if row.delta is None or abs(row.delta) <= TOLERANCE:
        return "—" if row.delta is None else "= 0"
    relative = f" ({row.delta / abs(row.base) * 100:+.1f}%)" if row.base else ""
    return f"{'▲' if row.delta > 0 else '▼'} {row.delta:+.4f}{relative}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    head = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    return [*head, *(f"| {' | '.join(row)} |" for row in rows), ""]


def mermaid_chart(heading: str, title: str, x_axis: str, y_axis: str, series: list[tuple]) -> list[str]:
    """A heading, a Mermaid xychart-beta and its legend; ``series``: (line|bar, label, colour, values)."""
    colours = ", ".join(colour for _, _, colour, _ in series)
    palette = json.dumps({"themeVariables": {"xyChart": {"plotColorPalette": colours}}})
    lines = [f"#### {heading}", "", "```mermaid", "---", f"config: {palette}", "---", "xychart-beta"]
    lines += [f'  title "{title}"', f"  x-axis {x_axis}", f"  y-axis {y_axis}"]
    lines += [f"  {kind} [{', '.join(f'{v:.4g}' for v in np.nan_to_num(vs))}]" for kind, _, _, vs in series]
    legend = ", ".join(f"{COLOURS[colour]}: {label}" for _, label, colour, _ in series)
    return [*lines, "```", f"<sub>{legend}</sub>", ""]


def roc_cells(frame: pd.DataFrame, cells: int = CELLS) -> list[float]:
    """Mean true-positive rate of the (piecewise linear) ROC curve per even cell of false-positive rate."""
    frame = frame.sort_values(["fpr", "tpr"])
    fpr, tpr, grid = frame["fpr"].to_numpy(float), frame["tpr"].to_numpy(float), np.linspace(0, 1, cells + 1)
    x, y = np.concatenate([fpr, grid]), np.concatenate([tpr, np.interp(grid, fpr, tpr)])
    x, y = x[np.lexsort((y, x))], y[np.lexsort((y, x))]
    area = np.concatenate([[0.0], np.cumsum(np.diff(x) * (y[1:] + y[:-1]) / 2)])  # the AUC up to each x
    return list(np.diff(np.interp(grid, x, area)) * cells)


def plot_sections(plots: dict[str, list], rows: list[MetricRow], base_name: str) -> list[str]:
    def both(name: str, *columns: str) -> list[tuple[pd.DataFrame, str, str]]:
        sides = zip(plots[name], (base_name, "this PR"), (GREY, BLUE), strict=True)
        return [(f, label, c) for f, label, c in sides if f is not None and set(columns) <= set(f.columns)]

    def title(text: str, metric: str) -> str:  # "ROC curve (roc_auc main 0.9937 → 0.9922)"
        row = next((r for r in rows if r.name == metric and r.new is not None), None)
        before = f"{base_name} {fmt(row.base)} → " if row and row.base is not None else ""
        return f"{text} ({metric} {before}{fmt(row.new)})" if row else text

    lines, axis = [], lambda name, values: f'"{name}" [' + ", ".join(f'"{v:.3g}"' for v in values) + "]"
    if roc := both("roc.csv", "fpr", "tpr"):
        series = [("line", label, c, roc_cells(f)) for f, label, c in roc]
        x_axis, y_axis = f'"false positive rate, {CELLS} cells" 0 --> 1', '"mean true positive rate" 0 --> 1'
        lines += mermaid_chart("ROC curve", title("ROC curve", "roc_auc"), x_axis, y_axis, series)
    if confusion := both("confusion.csv", "actual", "predicted"):
        counts = [pd.crosstab(f["actual"].astype(str), f["predicted"].astype(str)) for f, _, _ in confusion]
        classes = sorted(set().union(*(set(c.index) | set(c.columns) for c in counts)))
        cell = lambda c, a, p: int(c.at[a, p]) if a in c.index and p in c.columns else 0  # noqa: E731

        def text(a: str, p: str) -> str:
            change = cell(counts[1], a, p) - cell(counts[0], a, p) if len(counts) == 2 else 0
            now = cell(counts[-1], a, p)
            return (f"**{now}**" if a == p else str(now)) + (f" ({change:+d})" if change else "")

        body = [[f"`{a}`", *(text(a, p) for p in classes)] for a in classes]
        note = f"Each cell: this PR (change from {base_name})." if len(counts) == 2 else "This PR's counts."
        lines += ["#### Confusion matrix", "", f"Rows: actual class, columns: predicted class. {note}", ""]
        lines += table(["actual \\ predicted", *(f"`{p}`" for p in classes)], body)
    if predictions := both("predictions.csv", "actual", "predicted"):
        actual = np.concatenate([f["actual"].to_numpy(float) for f, _, _ in predictions])
        edges = np.linspace(actual.min(), actual.max(), BINS + 1)
        centres = list((edges[:-1] + edges[1:]) / 2)
        series = [("line", "ideal (predicted = actual)", GREEN, centres)]
        for f, label, c in predictions:  # mean prediction per range of actual values
            bins = np.clip(np.digitize(f["actual"].to_numpy(float), edges[1:-1]), 0, BINS - 1)
            means = f["predicted"].astype(float).groupby(bins).mean().reindex(range(BINS))
            series.append(("line", label, c, list(means.interpolate(limit_direction="both"))))
        heading = title("Mean prediction per range of actual values", "rmse")
        lines += mermaid_chart("Predicted vs actual", heading, axis("actual", centres), '"predicted"', series)
    if residuals := both("residuals.csv", "residual"):
        spread = max(float(f["residual"].abs().max()) for f, _, _ in residuals) or 1.0
        edges = np.linspace(-spread, spread, BINS + 1)
        counts = [list(np.histogram(f["residual"], edges)[0]) for f, _, _ in residuals]
        series = [("bar", "this PR (bars)", BLUE, counts[-1])]
        series += [("line", f"{base_name} (line)", GREY, counts[0])] if len(counts) == 2 else []
        heading, centres = title("Residuals (actual - predicted)", "mae"), (edges[:-1] + edges[1:]) / 2
        lines += mermaid_chart(
            "Residual distribution", heading, axis("residual", centres), '"test rows"', series
        )
    return lines


def _plots(sha: str) -> dict[str, list[pd.DataFrame | None]]:
    """The plot CSVs of the base (``git show``) and of the working tree."""
    plots = {}
    for name in ("roc.csv", "confusion.csv", "predictions.csv", "residuals.csv"):
        path = PLOTS_DIR / name
        shown = subprocess.run(["git", "show", f"{sha}:{path.as_posix()}"], capture_output=True, text=True)
        texts = [shown.stdout if shown.returncode == 0 else "", path.read_text() if path.is_file() else ""]
        plots[name] = [pd.read_csv(io.StringIO(text)) if text.strip() else None for text in texts]
    return plots


def build_report(base: str, base_name: str | None = None, primary: str | None = None) -> str:
    """The Markdown report comparing the working tree (the current folder) with git revision ``base``."""
    sha, base_name = resolve_rev(base), base_name or base
    if not Path(METRICS_FILE).is_file():
        raise UserError(f"{METRICS_FILE} is missing in the working tree: run `make repro` first")
    rows, name = metric_rows(sha, primary), f"`{base_name}`"
    lines = [f"## Model report: this pull request vs {name} ({sha[:7]})", ""]
    if rows and rows[0].primary and rows[0].base is not None:
        head = rows[0]
        change = f"{fmt(head.base)} → {fmt(head.new)} ({fmt_delta(head)}) {MARKS[head.verdict]}"
        lines.append(f"Primary metric **{head.name}**: {change}")
    elif all(r.base is None for r in rows):
        lines.append(f"{name} has no `{METRICS_FILE}` yet: every metric below is new.")
    body = [[r.label, fmt(r.base), fmt(r.new), fmt_delta(r), MARKS[r.verdict]] for r in rows]
    lines += ["", "### Metrics", "", *table(["metric", name, "this PR", "change", ""], body)]
    params = [[f"`{k}`", fmt(v.get("old")), fmt(v.get("new"))] for k, v in dvc_diff("params", "diff", sha)]
    lines.append("### Params\n")
    lines += table(["param", name, "this PR"], params) if params else ["No param changed.", ""]
    files = dvc_diff("diff", "--show-hash", sha)
    data = [
        [f"`{e['path']}`", change, fmt(e.get("hash", {}).get("old")), fmt(e.get("hash", {}).get("new"))]
        for change in ("added", "deleted", "modified", "renamed")
        for e in files.get(change, [])
    ]
    if data:
        lines += ["### Data and model files (DVC)", "", *table(["file", "change", "before", "now"], data)]
    lines += ["### Plots", "", *sections] if (sections := plot_sections(_plots(sha), rows, base_name)) else []
    note = "Facts from `dvc metrics diff`, `dvc params diff` and `dvc diff` against the base"
    return "\n".join([*lines, f"<sub>{note}; the full plot files are in this run's artifacts.</sub>", ""])


RETRAIN_TEXT = """## Retraining after data drift

The scheduled drift check found drift in the current data. This pull request retrains the model on the
refreshed data (`dvc repro`): the new data version (`.dvc`), `dvc.lock`, metrics and plots; the new data
and model are in the DVC remote when one is configured.
"""
WORSE_TEXT = """> [!WARNING]
> **The retrained model is worse than `{base}` on the primary metric**: {line}.
> It is proposed anyway so that people decide: merge it, change it, or close it.
"""


def retrain_pull_request(params: Params, base: str, base_name: str, run_url: str | None) -> tuple[str, str]:
    """Title and body of the drift workflow's retraining pull request: the drift summary, a link to the
    run and the model report; the title says when the retrained model is worse on the primary metric."""
    primary, summary = params.evaluate.primary_metric, params.drift.output_dir / "summary.md"
    try:
        report, rows = build_report(base, base_name, primary), metric_rows(resolve_rev(base), primary)
        row = next((r for r in rows if r.primary and r.delta is not None), None)
    except UserError as exc:
        report, row = f"_The metrics could not be compared with `{base_name}`: {exc}_", None
    line = f"{primary} {fmt(row.base)} → {fmt(row.new)}" if row else f"no `{primary}` to compare"
    worse = row is not None and row.verdict == "worse"
    title = f"WORSE than {base_name} on {primary} ({line})" if worse else line
    title += f" ({row.verdict} vs {base_name})" if row and not worse else ""
    body = [RETRAIN_TEXT, WORSE_TEXT.format(base=base_name, line=line) if worse else ""]
    body += [f"Drift report (HTML, artifact `drift-report`) and logs: {run_url}\n"] if run_url else []
    body += [summary.read_text(encoding="utf-8") if summary.is_file() else "", report.strip() + "\n"]
    return f"Retrain on drifted data: {title}", "\n".join(part for part in body if part)

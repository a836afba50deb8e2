"""Compare this working tree's model with a base git revision, as a Markdown report.

DVC states the facts, as JSON against the base: ``dvc metrics diff``, ``params diff`` and ``diff``
(data and model files); the base's plot CSVs come from ``git show``. This module presents them:
metrics marked better or worse (direction from ``config.METRICS``), the primary one first; changed
params and files; Mermaid charts, which GitHub renders in a comment, each titled with its metric
(the ROC line's cells average to the AUC: a changed AUC moves it).
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
import yaml

from .config import Params, lower_is_better
from .errors import UserError
from .io import read_text
from .paths import METRICS_FILE, PRODUCTION_FILE, all_plot_files

COLOURS = {"#9ca3af": "grey", "#2563eb": "blue", "#16a34a": "green"}
GREY, BLUE, GREEN = COLOURS
CELLS, BINS, TOLERANCE = 20, 10, 1e-9
MARKS = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "unchanged": "⚪ unchanged",
    "new": "🆕 new",
    "removed": "✖️ removed",
}
PlotSide = tuple[pd.DataFrame, str, str]  # a plot file of one side, its label and its colour


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        cause = [line for line in result.stderr.splitlines() if line.strip()] or [
            f"exit {result.returncode}"
        ]
        raise UserError(f"`{' '.join(args)}` failed: {cause[-1]}")
    return result.stdout


def dvc_diff(*args: str) -> Any:
    """``dvc <args> --json``; for metrics and params, its (name, {old, new}) pairs over all
    files."""
    diff = json.loads(_run(sys.executable, "-m", "dvc", *args, "--json") or "{}")
    return (
        diff
        if args[0] == "diff"
        else [item for entries in diff.values() for item in entries.items()]
    )


def resolve_rev(rev: str) -> str:
    try:
        return _run("git", "rev-parse", "--verify", "--quiet", rev + "^{commit}").strip()
    except UserError:
        fix = (
            "fetch it (in CI: actions/checkout with fetch-depth: 0) or name another branch "
            "or commit"
        )
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
        return lower_is_better(self.name)

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


def _number(value: Any) -> float | None:
    """A metric's value, or None for anything that is not a number (booleans included)."""
    return value if type(value) in (int, float) else None


def metric_rows(sha: str, primary: str | None) -> list[MetricRow]:
    """Every metric of ``dvc metrics diff --all``, the primary one first."""
    rows = []
    for name, change in dvc_diff("metrics", "diff", "--all", sha):
        row = MetricRow(
            name, _number(change.get("old")), _number(change.get("new")), name == primary
        )
        if (row.base, row.new) != (None, None):
            rows.append(row)
    return sorted(rows, key=lambda row: (not row.primary, row.name))


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


def mermaid_chart(
    heading: str, title: str, x_axis: str, y_axis: str, series: list[tuple]
) -> list[str]:
    """A heading, a Mermaid xychart-beta and its legend; ``series``: (line|bar, label, colour,
    values)."""
    colours = ", ".join(colour for _, _, colour, _ in series)
    palette = json.dumps({"themeVariables": {"xyChart": {"plotColorPalette": colours}}})
    lines = [
        f"#### {heading}",
        "",
        "```mermaid",
        "---",
        f"config: {palette}",
        "---",
        "xychart-beta",
    ]
    lines += [f'  title "{title}"', f"  x-axis {x_axis}", f"  y-axis {y_axis}"]
    lines += [
        f"  {kind} [{', '.join(f'{v:.4g}' for v in np.nan_to_num(vs))}]"
        for kind, _, _, vs in series
    ]
    legend = ", ".join(f"{COLOURS[colour]}: {label}" for _, label, colour, _ in series)
    return [*lines, "```", f"<sub>{legend}</sub>", ""]


def roc_cells(frame: pd.DataFrame, cells: int = CELLS) -> list[float]:
    """Mean true-positive rate of the (piecewise linear) ROC curve per even cell of
    false-positive rate."""
    frame = frame.sort_values(["fpr", "tpr"])
    fpr = frame["fpr"].to_numpy(float)
    tpr = frame["tpr"].to_numpy(float)
    grid = np.linspace(0, 1, cells + 1)
    # The curve's points and the grid's, ordered by false-positive rate.
    x = np.concatenate([fpr, grid])
    y = np.concatenate([tpr, np.interp(grid, fpr, tpr)])
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    # The area under the curve up to each x (trapezoids).
    area = np.concatenate([[0.0], np.cumsum(np.diff(x) * (y[1:] + y[:-1]) / 2)])
    return list(np.diff(np.interp(grid, x, area)) * cells)


class Plots:
    """The plot files of the base and of this PR, turned into report sections."""

    def __init__(self, plots: dict[str, list], rows: list[MetricRow], base_name: str) -> None:
        self.plots = plots
        self.rows = rows
        self.base_name = base_name

    def sides(self, name: str, *columns: str) -> list[PlotSide]:
        """The sides (base, then this PR) that have the plot file ``name`` with ``columns``."""
        sides = zip(
            self.plots.get(name, [None, None]),
            (self.base_name, "this PR"),
            (GREY, BLUE),
            strict=True,
        )
        return [
            (frame, label, colour)
            for frame, label, colour in sides
            if frame is not None and set(columns) <= set(frame.columns)
        ]

    def title(self, text: str, metric: str) -> str:
        """``text`` with the metric's change, e.g. "ROC curve (roc_auc main 0.9937 → 0.9922)"."""
        row = next((r for r in self.rows if r.name == metric and r.new is not None), None)
        if row is None:
            return text
        before = f"{self.base_name} {fmt(row.base)} → " if row.base is not None else ""
        return f"{text} ({metric} {before}{fmt(row.new)})"

    def sections(self) -> list[str]:
        return self.roc() + self.confusion() + self.predictions() + self.residuals()

    def roc(self) -> list[str]:
        sides = self.sides("roc.csv", "fpr", "tpr")
        if not sides:
            return []
        series = [("line", label, colour, roc_cells(frame)) for frame, label, colour in sides]
        x_axis = f'"false positive rate, {CELLS} cells" 0 --> 1'
        y_axis = '"mean true positive rate" 0 --> 1'
        title = self.title("ROC curve", "roc_auc")
        return mermaid_chart("ROC curve", title, x_axis, y_axis, series)

    def confusion(self) -> list[str]:
        sides = self.sides("confusion.csv", "actual", "predicted")
        if not sides:
            return []
        counts = [
            pd.crosstab(frame["actual"].astype(str), frame["predicted"].astype(str))
            for frame, _, _ in sides
        ]
        classes = sorted(set().union(*(set(c.index) | set(c.columns) for c in counts)))
        body = [[f"`{a}`", *(_confusion_cell(counts, a, p) for p in classes)] for a in classes]
        if len(counts) == 2:
            note = f"Each cell: this PR (change from {self.base_name})."
        else:
            note = "This PR's counts."
        lines = ["#### Confusion matrix", ""]
        lines += [f"Rows: actual class, columns: predicted class. {note}", ""]
        return lines + table(["actual \\ predicted", *(f"`{p}`" for p in classes)], body)

    def predictions(self) -> list[str]:
        sides = self.sides("predictions.csv", "actual", "predicted")
        if not sides:
            return []
        actual = np.concatenate([frame["actual"].to_numpy(float) for frame, _, _ in sides])
        edges = np.linspace(actual.min(), actual.max(), BINS + 1)
        centres = list((edges[:-1] + edges[1:]) / 2)
        series = [("line", "ideal (predicted = actual)", GREEN, centres)]
        for frame, label, colour in sides:  # mean prediction per range of actual values
            bins = np.clip(np.digitize(frame["actual"].to_numpy(float), edges[1:-1]), 0, BINS - 1)
            means = frame["predicted"].astype(float).groupby(bins).mean().reindex(range(BINS))
            series.append(("line", label, colour, list(means.interpolate(limit_direction="both"))))
        title = self.title("Mean prediction per range of actual values", "rmse")
        x_axis = _axis("actual", centres)
        return mermaid_chart("Predicted vs actual", title, x_axis, '"predicted"', series)

    def residuals(self) -> list[str]:
        sides = self.sides("residuals.csv", "residual")
        if not sides:
            return []
        spread = max(float(frame["residual"].abs().max()) for frame, _, _ in sides) or 1.0
        edges = np.linspace(-spread, spread, BINS + 1)
        counts = [list(np.histogram(frame["residual"], edges)[0]) for frame, _, _ in sides]
        series = [("bar", "this PR (bars)", BLUE, counts[-1])]
        if len(counts) == 2:
            series.append(("line", f"{self.base_name} (line)", GREY, counts[0]))
        title = self.title("Residuals (actual - predicted)", "mae")
        x_axis = _axis("residual", (edges[:-1] + edges[1:]) / 2)
        return mermaid_chart("Residual distribution", title, x_axis, '"test rows"', series)


def _axis(name: str, values: Any) -> str:
    """A Mermaid x-axis of categories: ``"name" ["1.5", "2.5", ...]``."""
    return f'"{name}" [' + ", ".join(f'"{value:.3g}"' for value in values) + "]"


def _confusion_cell(counts: list[pd.DataFrame], actual: str, predicted: str) -> str:
    """This PR's count (bold on the diagonal) and its change from the base, if any."""

    def count(frame: pd.DataFrame) -> int:
        if actual in frame.index and predicted in frame.columns:
            return int(frame.at[actual, predicted])
        return 0

    now = count(counts[-1])
    change = now - count(counts[0]) if len(counts) == 2 else 0
    text = f"**{now}**" if actual == predicted else str(now)
    return text + (f" ({change:+d})" if change else "")


def plot_sections(plots: dict[str, list], rows: list[MetricRow], base_name: str) -> list[str]:
    return Plots(plots, rows, base_name).sections()


def _git_show(sha: str, path: Path) -> str:
    """The file at ``path`` in commit ``sha``; empty when it is not there."""
    shown = subprocess.run(
        ["git", "show", f"{sha}:{path.as_posix()}"], capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else ""


def _plots(sha: str) -> dict[str, list[pd.DataFrame | None]]:
    """The plot CSVs of the base (``git show``) and of the working tree, by file name."""
    plots = {}
    for path in all_plot_files():
        texts = [_git_show(sha, path), path.read_text() if path.is_file() else ""]
        plots[path.name] = [
            pd.read_csv(io.StringIO(text)) if text.strip() else None for text in texts
        ]
    return plots


def _headline(rows: list[MetricRow], name: str) -> list[str]:
    """The primary metric's change, or a note when the base has no metrics yet."""
    if rows and rows[0].primary and rows[0].base is not None:
        head = rows[0]
        change = f"{fmt(head.base)} → {fmt(head.new)} ({fmt_delta(head)}) {MARKS[head.verdict]}"
        return [f"Primary metric **{head.name}**: {change}"]
    if all(row.base is None for row in rows):
        return [f"{name} has no `{METRICS_FILE}` yet: every metric below is new."]
    return []


def _params_section(sha: str, name: str) -> list[str]:
    changes = dvc_diff("params", "diff", sha)
    params = [[f"`{key}`", fmt(v.get("old")), fmt(v.get("new"))] for key, v in changes]
    lines = ["### Params\n"]
    if not params:
        return [*lines, "No param changed.", ""]
    return lines + table(["param", name, "this PR"], params)


def _files_section(sha: str) -> list[str]:
    files = dvc_diff("diff", "--show-hash", sha)
    data = []
    for change in ("added", "deleted", "modified", "renamed"):
        for entry in files.get(change, []):
            hashes = entry.get("hash", {})
            data.append(
                [f"`{entry['path']}`", change, fmt(hashes.get("old")), fmt(hashes.get("new"))]
            )
    if not data:
        return []
    return ["### Data and model files (DVC)", "", *table(["file", "change", "before", "now"], data)]


def build_report(base: str, base_name: str | None = None, primary: str | None = None) -> str:
    """The Markdown report comparing the working tree (the current folder) with git revision
    ``base``."""
    sha, base_name = resolve_rev(base), base_name or base
    if not METRICS_FILE.is_file():
        raise UserError(f"{METRICS_FILE} is missing in the working tree: run `make repro` first")
    rows, name = metric_rows(sha, primary), f"`{base_name}`"
    lines = [
        f"## Model report: this pull request vs {name} ({sha[:7]})",
        "",
        *_headline(rows, name),
    ]
    body = [[r.label, fmt(r.base), fmt(r.new), fmt_delta(r), MARKS[r.verdict]] for r in rows]
    lines += ["", "### Metrics", "", *table(["metric", name, "this PR", "change", ""], body)]
    lines += _params_section(sha, name) + _files_section(sha)
    sections = plot_sections(_plots(sha), rows, base_name)
    if sections:
        lines += ["### Plots", "", *sections]
    note = "Facts from `dvc metrics diff`, `dvc params diff` and `dvc diff` against the base"
    lines.append(f"<sub>{note}; the full plot files are in this run's artifacts.</sub>")
    return "\n".join([*lines, ""])


# Why the scheduled check retrains (its --trigger), and what the pull request holds.
RETRAIN_TEXT = {
    "drift": """## Retraining after data drift

The scheduled drift check found drift in the current data. This pull request retrains the model
on the refreshed data (`dvc repro`): the new data version (`.dvc`), `dvc.lock`, metrics and plots;
the new data and model are in the DVC remote when one is configured.
""",
    "quality": """## Retraining on labelled production data

The scheduled quality check measured the model on production predictions joined with their late
labels, and it is below the thresholds of `params.yaml` (`quality`). This pull request adds the
newly labelled rows to the training data and retrains the model (`dvc repro`): the new data
version (`.dvc`), `dvc.lock`, metrics and plots; the new data and model are in the DVC remote
when one is configured.
""",
    "drift-labelled": """## Retraining after data drift, on labelled production data

The scheduled drift check found drift, and production predictions have labels. This pull request
adds the newly labelled rows to the training data and retrains the model (`dvc repro`) on them
and on the refreshed data: the new data version (`.dvc`), `dvc.lock`, metrics and plots; the new
data and model are in the DVC remote when one is configured.
""",
}
RETRAIN_TITLE = {
    "drift": "Retrain on drifted data",
    "quality": "Retrain on labelled production data (quality below threshold)",
    "drift-labelled": "Retrain on drifted data and labelled production data",
}
WORSE_TEXT = """> [!WARNING]
> **The retrained model is worse than `{base}` on the primary metric**: {line}.
> It is proposed anyway so that people decide: merge it, change it, or close it.
"""


def _primary_change(base: str, base_name: str, primary: str) -> tuple[str, MetricRow | None]:
    """The model report, and the primary metric's row when both sides have it."""
    try:
        report = build_report(base, base_name, primary)
        rows = metric_rows(resolve_rev(base), primary)
    except UserError as exc:
        return f"_The metrics could not be compared with `{base_name}`: {exc}_", None
    return report, next((r for r in rows if r.primary and r.delta is not None), None)


def _retrain_title(primary: str, base_name: str, row: MetricRow | None) -> str:
    if row is None:
        return f"no `{primary}` to compare"
    line = f"{primary} {fmt(row.base)} → {fmt(row.new)}"
    if row.verdict == "worse":
        return f"WORSE than {base_name} on {primary} ({line})"
    return f"{line} ({row.verdict} vs {base_name})"


def _md5(pointer_text: str | None) -> str | None:
    """The md5 a ``.dvc`` file records for its (one) output."""
    if not pointer_text:
        return None
    outs = yaml.safe_load(pointer_text).get("outs") or [{}]
    return outs[0].get("md5")


def production_data_section(base: str, base_name: str) -> list[str]:
    """The labelled production rows' new data version (md5 in the base → now) and row count;
    nothing when the file did not change."""
    pointer = Path(f"{PRODUCTION_FILE}.dvc")
    before, now = _md5(_git_show(resolve_rev(base), pointer)), _md5(read_text(pointer))
    if before == now or not PRODUCTION_FILE.is_file():
        return []
    with PRODUCTION_FILE.open("rb") as file:
        rows = max(sum(1 for line in file if line.strip()) - 1, 0)
    return [
        "### Training data: new version",
        "",
        f"`{PRODUCTION_FILE}` (labelled production rows, one per prediction id): "
        f"md5 `{before or 'none'}` in `{base_name}` → `{now}`, {rows} rows.",
        "",
    ]


def retrain_pull_request(
    params: Params,
    base: str,
    base_name: str,
    run_url: str | None,
    summaries: list[str],
    trigger: str = "drift",
) -> tuple[str, str]:
    """Title and body of the scheduled check's retraining pull request: why (``trigger``), a link
    to the run, the new version of the production rows, the quality and drift summaries (their
    summary.md texts) and the model report; the title says when the retrained model is worse on
    the primary metric."""
    primary = params.evaluate.primary_metric
    report, row = _primary_change(base, base_name, primary)
    body = [RETRAIN_TEXT[trigger]]
    if row is not None and row.verdict == "worse":
        line = f"{primary} {fmt(row.base)} → {fmt(row.new)}"
        body.append(WORSE_TEXT.format(base=base_name, line=line))
    if run_url:
        body.append(f"Reports (HTML, the run's artifacts) and logs: {run_url}\n")
    body += ["\n".join(production_data_section(base, base_name)), *summaries]
    body.append(report.strip() + "\n")
    title = f"{RETRAIN_TITLE[trigger]}: {_retrain_title(primary, base_name, row)}"
    return title, "\n".join(part for part in body if part)

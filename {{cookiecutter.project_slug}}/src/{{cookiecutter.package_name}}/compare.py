"""Compare this working tree's model with a base git revision, as a Markdown report.

``python -m {{ cookiecutter.package_name }} compare --base main`` reads the base revision's
committed ``metrics.json``, ``params.yaml``, ``plots/*.csv`` and ``*.dvc`` pointers with
``git show`` (metrics and plots are small and committed, ``cache: false`` in dvc.yaml, so no
DVC remote is needed) and the current ones from the working tree, then writes:

- every metric with the base value, the new value and the change, marked better or worse for
  that metric (``evaluate.LOWER_IS_BETTER``) and the primary metric (``evaluate.primary_metric``)
  first;
- every changed param (and changed data files);
- the plots as Mermaid ``xychart-beta`` charts, which GitHub renders inside a comment: the ROC
  curve and the confusion matrix (a table) for classification, predicted-vs-actual and the
  residual distribution for regression.

A base without metrics yet (the first model) is reported as "new" throughout.
The train workflow posts this report as the pull request's comment and job summary.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .errors import UserError
from .evaluate import LOWER_IS_BETTER, METRICS_FILE, PLOTS_DIR

PARAMS_FILE = Path("params.yaml")
TITLE = "Model report"
BASE_COLOUR = "#9ca3af"  # grey
NEW_COLOUR = "#2563eb"  # blue
IDEAL_COLOUR = "#16a34a"  # green
ROC_GRID = 21  # false-positive rates 0, 0.05, ..., 1
BINS = 10
TOLERANCE = 1e-9


# --------------------------------------------------------------------------- reading
def git_show(rev: str, path: Path | str, cwd: Path | str = ".") -> str | None:
    """Text of ``path`` at git revision ``rev``, or None when it does not exist there."""
    result = subprocess.run(
        ["git", "show", f"{rev}:{Path(path).as_posix()}"], cwd=cwd, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def resolve_rev(rev: str, cwd: Path | str = ".") -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", rev + "^{commit}"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise UserError(
            f"base revision {rev!r} is not in this git repository: fetch it "
            "(in CI: actions/checkout with fetch-depth: 0) or name another branch or commit"
        )
    return result.stdout.strip()


def read_tree(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def parse_metrics(text: str | None) -> dict[str, float]:
    """Flat ``{name: value}`` of the numeric metrics (nested sections become ``a.b``)."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    flat = flatten(raw) if isinstance(raw, dict) else {}
    return {k: float(v) for k, v in flat.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def parse_params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return flatten(raw) if isinstance(raw, dict) else {}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def parse_csv(text: str | None) -> pd.DataFrame | None:
    if not text:
        return None
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError):
        return None
    return frame if not frame.empty else None


# --------------------------------------------------------------------------- comparing
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
        if self.base is None or self.new is None:
            return None
        return self.new - self.base

    @property
    def verdict(self) -> str:
        """better | worse | unchanged | new | removed."""
        if self.base is None:
            return "new"
        if self.new is None:
            return "removed"
        delta = self.delta or 0.0
        if abs(delta) <= TOLERANCE:
            return "unchanged"
        improved = delta < 0 if self.lower_is_better else delta > 0
        return "better" if improved else "worse"


MARKS = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "unchanged": "⚪ unchanged",
    "new": "🆕 new",
    "removed": "✖️ removed",
}


def compare_metrics(
    base: Mapping[str, float], new: Mapping[str, float], primary: str | None
) -> list[MetricRow]:
    names = sorted(set(base) | set(new), key=lambda n: (n != primary, n))
    return [MetricRow(n, base.get(n), new.get(n), primary=n == primary) for n in names]


def compare_params(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    missing = object()
    changed = []
    for key in sorted(set(base) | set(new)):
        old, now = base.get(key, missing), new.get(key, missing)
        if {} in (old, now) and missing in (old, now):
            continue  # `section: {}` that gained or lost keys: those keys are listed instead
        if old != now:
            changed.append((key, None if old is missing else old, None if now is missing else now))
    return changed


def data_changes(base_rev: str, root: Path) -> list[tuple[str, str | None, str | None]]:
    """DVC-tracked files whose content hash differs: (path, base md5, new md5)."""
    listed = _git_lines(["ls-files", "*.dvc"], root)
    base_listed = _git_lines(["ls-tree", "-r", "--name-only", base_rev], root)
    changes = []
    for pointer in sorted(set(listed) | {p for p in base_listed if p.endswith(".dvc")}):
        old = _md5(git_show(base_rev, pointer, root))
        new = _md5(read_tree(root / pointer))
        if old != new:
            changes.append((pointer.removesuffix(".dvc"), old, new))
    return changes


def _git_lines(args: list[str], root: Path) -> list[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.split()


def _md5(text: str | None) -> str | None:
    if not text:
        return None
    try:
        outs = (yaml.safe_load(text) or {}).get("outs") or [{}]
    except yaml.YAMLError:
        return None
    return outs[0].get("md5")


# --------------------------------------------------------------------------- formatting
def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        return f"`{text}`"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


def fmt_delta(row: MetricRow) -> str:
    delta = row.delta
    if delta is None:
        return "—"
    if abs(delta) <= TOLERANCE:
        return "= 0"
    arrow = "▲" if delta > 0 else "▼"
    relative = f" ({delta / abs(row.base) * 100:+.1f}%)" if row.base else ""
    return f"{arrow} {delta:+.4f}{relative}"


def metrics_table(rows: list[MetricRow], base_name: str) -> list[str]:
    lines = [
        f"| metric | {base_name} | this PR | change | |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        direction = "lower is better" if row.lower_is_better else "higher is better"
        name = f"**{row.name}** (primary)" if row.primary else row.name
        lines.append(
            f"| {name} <sub>{direction}</sub> | {fmt(row.base)} | {fmt(row.new)} | {fmt_delta(row)} "
            f"| {MARKS[row.verdict]} |"
        )
    return lines


def params_table(changes: list[tuple[str, Any, Any]], base_name: str) -> list[str]:
    if not changes:
        return ["No param changed."]
    lines = [f"| param | {base_name} | this PR |", "|---|---|---|"]
    lines += [f"| `{key}` | {fmt(old)} | {fmt(new)} |" for key, old, new in changes]
    return lines


def _numbers(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" if math.isfinite(v) else "0" for v in values) + "]"


def mermaid_chart(
    title: str,
    x_axis: str,
    y_axis: str,
    series: list[tuple[str, str, list[float]]],
    colours: list[str],
) -> list[str]:
    """A Mermaid xychart-beta block; ``series`` = [(kind 'line'|'bar', label, values)]."""
    lines = [
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{", ".join(colours)}"',
        "---",
        "xychart-beta",
        f'  title "{title}"',
        f"  x-axis {x_axis}",
        f"  y-axis {y_axis}",
    ]
    lines += [f"  {kind} {_numbers(values)}" for kind, _, values in series]
    lines.append("```")
    return lines


def legend(items: list[tuple[str, str]]) -> str:
    names = {BASE_COLOUR: "grey", NEW_COLOUR: "blue", IDEAL_COLOUR: "green"}
    return "<sub>" + ", ".join(f"{names.get(colour, colour)}: {label}" for colour, label in items) + "</sub>"


def roc_on_grid(frame: pd.DataFrame, points: int = ROC_GRID) -> list[float]:
    """Best true-positive rate reached at each false-positive rate of an even grid (a step curve)."""
    fpr = frame["fpr"].to_numpy(dtype=float)
    tpr = frame["tpr"].to_numpy(dtype=float)
    grid = np.linspace(0.0, 1.0, points)
    return [float(tpr[fpr <= x + 1e-12].max()) if (fpr <= x + 1e-12).any() else 0.0 for x in grid]


def roc_section(base: pd.DataFrame | None, new: pd.DataFrame | None, base_name: str) -> list[str]:
    if new is None or not {"fpr", "tpr"} <= set(new.columns):
        return []
    series, colours, items = [], [], []
    if base is not None and {"fpr", "tpr"} <= set(base.columns):
        series.append(("line", base_name, roc_on_grid(base)))
        colours.append(BASE_COLOUR)
        items.append((BASE_COLOUR, base_name))
    series.append(("line", "this PR", roc_on_grid(new)))
    colours.append(NEW_COLOUR)
    items.append((NEW_COLOUR, "this PR"))
    chart = mermaid_chart(
        "ROC curve", '"false positive rate" 0 --> 1', '"true positive rate" 0 --> 1', series, colours
    )
    return ["#### ROC curve", "", *chart, legend(items), ""]


def confusion_section(base: pd.DataFrame | None, new: pd.DataFrame | None, base_name: str) -> list[str]:
    if new is None or not {"actual", "predicted"} <= set(new.columns):
        return []

    def counts(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.crosstab(frame["actual"].astype(str), frame["predicted"].astype(str))

    current = counts(new)
    previous = counts(base) if base is not None and {"actual", "predicted"} <= set(base.columns) else None
    labels = set(current.index) | set(current.columns)
    if previous is not None:
        labels |= set(previous.index) | set(previous.columns)
    labels = sorted(labels)
    lines = [
        "#### Confusion matrix",
        "",
        "Rows: actual class, columns: predicted class. "
        + (f"Each cell: this PR (change from {base_name})." if previous is not None else "This PR's counts."),
        "",
        "| actual \\ predicted | " + " | ".join(f"`{c}`" for c in labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for actual in labels:
        cells = []
        for predicted in labels:
            now = _cell(current, actual, predicted)
            cell = f"**{now}**" if actual == predicted else str(now)
            if previous is not None:
                old = _cell(previous, actual, predicted)
                if now != old:
                    cell += f" ({now - old:+d})"
            cells.append(cell)
        lines.append(f"| `{actual}` | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _cell(table: pd.DataFrame, row: str, column: str) -> int:
    return int(table.at[row, column]) if row in table.index and column in table.columns else 0


def _bin_means(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> list[float]:
    """Mean of ``y`` per bin of ``x``; empty bins are interpolated from their neighbours."""
    index = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
    means = np.array([y[index == i].mean() if (index == i).any() else np.nan for i in range(len(edges) - 1)])
    known = ~np.isnan(means)
    if not known.any():
        return [0.0] * len(means)
    centres = (edges[:-1] + edges[1:]) / 2
    return list(np.interp(centres, centres[known], means[known]))


def regression_sections(
    base_pred: pd.DataFrame | None,
    new_pred: pd.DataFrame | None,
    base_res: pd.DataFrame | None,
    new_res: pd.DataFrame | None,
    base_name: str,
) -> list[str]:
    lines: list[str] = []
    if _has(new_pred, "actual", "predicted"):
        frames = [f for f in (base_pred, new_pred) if _has(f, "actual", "predicted")]
        actual = np.concatenate([f["actual"].to_numpy(dtype=float) for f in frames])
        edges = np.linspace(actual.min(), actual.max(), BINS + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        labels = "[" + ", ".join(f'"{c:.3g}"' for c in centres) + "]"
        series = [("line", "ideal", list(centres))]
        colours, items = [IDEAL_COLOUR], [(IDEAL_COLOUR, "ideal (predicted = actual)")]
        if _has(base_pred, "actual", "predicted"):
            series.append(("line", base_name, _bin_means(*_xy(base_pred, "actual", "predicted"), edges)))
            colours.append(BASE_COLOUR)
            items.append((BASE_COLOUR, base_name))
        series.append(("line", "this PR", _bin_means(*_xy(new_pred, "actual", "predicted"), edges)))
        colours.append(NEW_COLOUR)
        items.append((NEW_COLOUR, "this PR"))
        chart = mermaid_chart(
            "Mean prediction per range of actual values", f'"actual" {labels}', '"predicted"', series, colours
        )
        lines += ["#### Predicted vs actual", "", *chart, legend(items), ""]
    if new_res is not None and "residual" in new_res.columns:
        frames = [f for f in (base_res, new_res) if f is not None and "residual" in f.columns]
        spread = max(float(np.abs(f["residual"].to_numpy(dtype=float)).max()) for f in frames) or 1.0
        edges = np.linspace(-spread, spread, BINS + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        labels = "[" + ", ".join(f'"{c:.3g}"' for c in centres) + "]"
        series, colours, items = [], [], []
        counts = np.histogram(new_res["residual"].to_numpy(dtype=float), edges)[0]
        series.append(("bar", "this PR", list(counts)))
        colours.append(NEW_COLOUR)
        items.append((NEW_COLOUR, "this PR (bars)"))
        if base_res is not None and "residual" in base_res.columns:
            counts = np.histogram(base_res["residual"].to_numpy(dtype=float), edges)[0]
            series.append(("line", base_name, list(counts)))
            colours.append(BASE_COLOUR)
            items.append((BASE_COLOUR, f"{base_name} (line)"))
        chart = mermaid_chart(
            "Residuals (actual - predicted)", f'"residual" {labels}', '"test rows"', series, colours
        )
        lines += ["#### Residual distribution", "", *chart, legend(items), ""]
    return lines


def _has(frame: pd.DataFrame | None, *columns: str) -> bool:
    return frame is not None and set(columns) <= set(frame.columns)


def _xy(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    return frame[x].to_numpy(dtype=float), frame[y].to_numpy(dtype=float)


# --------------------------------------------------------------------------- the report
def primary_metric(params: Mapping[str, Any]) -> str | None:
    value = params.get("evaluate.primary_metric")
    return str(value) if value else None


def build_report(base: str, base_name: str | None = None, root: Path | str = ".") -> str:
    """The Markdown report comparing the working tree at ``root`` with git revision ``base``."""
    root = Path(root)
    sha = resolve_rev(base, root)
    base_name = base_name or base
    label = f"`{base_name}` ({sha[:7]})"

    new_params = parse_params(read_tree(root / PARAMS_FILE))
    base_params = parse_params(git_show(sha, PARAMS_FILE, root))
    new_metrics = parse_metrics(read_tree(root / METRICS_FILE))
    if not new_metrics:
        raise UserError(f"{METRICS_FILE} is missing or empty in the working tree: run `make repro` first")
    base_metrics = parse_metrics(git_show(sha, METRICS_FILE, root))
    primary = primary_metric(new_params)
    rows = compare_metrics(base_metrics, new_metrics, primary)

    lines = [f"## {TITLE}: this pull request vs {label}", ""]
    head = next((r for r in rows if r.primary), None)
    if head is not None and head.base is not None:
        lines.append(
            f"Primary metric **{head.name}**: {fmt(head.base)} → {fmt(head.new)} "
            f"({fmt_delta(head)}) {MARKS[head.verdict]}"
        )
    elif not base_metrics:
        lines.append(f"{label} has no `{METRICS_FILE}` yet: every metric below is new.")
    lines += ["", "### Metrics", "", *metrics_table(rows, f"`{base_name}`"), ""]

    lines += ["### Params", "", *params_table(compare_params(base_params, new_params), f"`{base_name}`"), ""]
    changed_data = data_changes(sha, root)
    if changed_data:
        lines += ["### Data", "", "| file | md5 before | md5 now |", "|---|---|---|"]
        lines += [f"| `{path}` | {fmt(old)} | {fmt(new)} |" for path, old, new in changed_data]
        lines.append("")

    def plot(name: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        path = PLOTS_DIR / name
        return parse_csv(git_show(sha, path, root)), parse_csv(read_tree(root / path))

    plot_lines = [
        *roc_section(*plot("roc.csv"), base_name),
        *confusion_section(*plot("confusion.csv"), base_name),
        *regression_sections(*plot("predictions.csv"), *plot("residuals.csv"), base_name),
    ]
    if plot_lines:
        lines += ["### Plots", "", *plot_lines]
    lines += [
        "<sub>Metrics and plots of the base come from its committed `metrics.json` and `plots/`. "
        "The full plot files are in this run's artifacts.</sub>",
        "",
    ]
    return "\n".join(lines)

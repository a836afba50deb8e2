"""Data drift: compare current data with the data the deployed model was trained on.

Reads the reference (``drift.reference``: the training split pinned by dvc.lock; column kinds from
``models/schema.json`` when present) and the current data (``drift.current``: CSV, Parquet, or the
server's JSON-lines prediction logs) with pyarrow, in one pass each, into a seeded uniform sample of
at most ``drift.sample_rows`` rows (the rows with the smallest random keys: bounded memory). Our code
reads, samples and checks the schema; Evidently's ``DataDriftPreset`` runs ONCE on the sample (with
``drift.method``/``threshold``/``columns`` as its own options) and that one snapshot gives every number
of ``report.html``, ``summary.json`` and ``summary.md``. Exit codes: 0 no drift, 1 drift (dataset
drift or a schema error such as a missing column), 2 the check could not run.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from .config import DriftMethod, Params
from .errors import UserError
from .features import load_schema, to_numbers
from .io import atomic_path, write_json, write_text

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SCHEMA_FILE = Path("models/schema.json")
CHANGED_TYPE_SHARE = 0.5  # share of non-numbers that makes a numeric column "changed type"
MD_MAX_ROWS = 25  # summary.md lists at most this many columns (summary.json has them all)
LOGS = (".jsonl", ".ndjson", ".json")
SIMULATED_SHARE = 0.7  # of the columns that simulate-current --drift moves
HINTS = {
    "reference": "train first (`make repro`, or `dvc pull` to fetch the outputs of the last training)",
    "current": "refresh it (`dvc update`/`dvc pull`, or `python -m {package} simulate-current` for a demo) "
    "or fix drift.current in params.yaml",
}


@dataclass
class Table:
    source: str
    rows: int  # rows in the whole source
    sample: pd.DataFrame  # a seeded uniform sample of at most sample_rows of them


def finding(severity: str, kind: str, message: str, column: str | None = None) -> dict[str, Any]:
    """A schema finding; severity "error" counts as drift, "warning" does not."""
    return {"severity": severity, "kind": kind, "message": message, "column": column}


# ------------------------------------------------------------------------------ reading, sampling
def _sample(tables: Any, k: int, seed: int) -> tuple[pd.DataFrame, int]:
    """The ``k`` rows with the smallest seeded random keys (a uniform sample) and the row count."""
    import pyarrow as pa

    rng, kept, keys, rows, cutoff = np.random.default_rng(seed), [], [], 0, 1.0
    for table in tables:
        draw, rows = rng.random(table.num_rows), rows + table.num_rows
        chosen = np.flatnonzero(draw < cutoff)  # later rows need a key below the k-th smallest so far
        kept.append(table.take(chosen))
        keys.append(draw[chosen])
        if sum(map(len, keys)) > 2 * k:
            table, key = pa.concat_tables(kept, promote_options="default"), np.concatenate(keys)
            best = np.argsort(key, kind="stable")[:k]
            kept, keys, cutoff = [table.take(best)], [key[best]], float(key[best].max())
    if not kept:
        return pd.DataFrame(), rows
    table = pa.concat_tables(kept, promote_options="default").take(np.argsort(np.concatenate(keys))[:k])
    for i, column in enumerate(table.columns):  # text columns that are all numbers: Arrow's fast cast
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            table = table.set_column(i, table.field(i).name, column.cast(pa.float64()))
    return table.to_pandas(), rows


def _csv_tables(path: Path, sep: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8") as handle:
        names = next(csv.reader(handle, delimiter=sep), [])
    text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True)
    parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    reader = pacsv.open_csv(path, pacsv.ReadOptions(block_size=8 << 20), parse, text) if names else []
    return (pa.Table.from_batches([batch]) for batch in reader)


def _records(value: Any) -> list[dict]:
    """Feature dicts of one log line: ``{"features": {...} or [...], ...}`` (or ``instances``,
    ``inputs``), a list of feature dicts, or one feature dict."""
    if isinstance(value, dict):
        value = next((value[k] for k in ("features", "instances", "inputs") if k in value), value)
    return [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, dict)]


def _log_tables(path: Path, findings: list[dict], chunk: int = 50_000):
    import gzip

    import pyarrow as pa

    def table(records: list[dict]) -> pa.Table:  # every value as text, as from a CSV
        frame = pd.DataFrame.from_records(records)
        text = lambda v: v if isinstance(v, str) else json.dumps(v)  # noqa: E731
        columns = {str(c): frame[c].map(text, na_action="ignore") for c in frame}
        return pa.table({c: pa.array(values, pa.string()) for c, values in columns.items()})

    buffer, bad = [], []
    for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if _format(p) == "logs"):
        try:
            with (gzip.open if file.name.endswith(".gz") else open)(file, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    try:
                        records = _records(json.loads(line)) if line.strip() else None
                    except json.JSONDecodeError:
                        records = []
                    bad += [f"{file}:{number}"] if records == [] else []
                    buffer += records or []
                    if len(buffer) >= chunk:
                        yield table(buffer)
                        buffer = []
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise UserError(f"cannot read prediction log {file}: {exc}") from None
    if buffer:
        yield table(buffer)
    if bad:
        message = f"{len(bad)} log line(s) hold no feature record and were skipped (first: {bad[0]})"
        findings.append(finding("warning", "unreadable_log_lines", message))


def _format(path: Path, declared: str = "auto") -> str:
    name = path.name.lower().removesuffix(".gz")
    if declared != "auto":
        return "logs" if declared == "predictions" else declared
    if path.is_dir() or name.endswith(LOGS):
        return "logs"
    return "parquet" if name.endswith((".parquet", ".pq")) else "csv"


def _tables(path: Path, fmt: str, sep: str, findings: list[dict]):
    if fmt == "logs":
        return _log_tables(path, findings)
    if fmt == "csv":
        return _csv_tables(path, sep)
    import pyarrow as pa
    import pyarrow.parquet as pq

    return (pa.Table.from_batches([batch]) for batch in pq.ParquetFile(path).iter_batches(65_536))


def read_source(path: Path, fmt: str, sep: str, k: int, seed: int, role: str) -> tuple[Table, list[dict]]:
    """A seeded sample of a CSV, a Parquet file or prediction logs, and findings about unreadable lines."""
    if not path.exists():
        hint = HINTS[role].format(package=__package__)
        raise UserError(f"{role} data {path} does not exist: {hint}")
    fmt, findings = _format(path, fmt), []
    if path.is_dir() and fmt != "logs":
        raise UserError(f"{role} data {path} is a folder; set drift.format: predictions for prediction logs")
    try:
        sample, rows = _sample(_tables(path, fmt, sep, findings), k, seed)
    except UnicodeDecodeError as exc:
        raise UserError(f"{role} data {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except (ValueError, OSError, TypeError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise UserError(f"{role} data {path} is not a readable {fmt} file: {message}") from None
    sample.columns = [str(c).strip() for c in sample.columns]
    return Table(str(path), rows, sample), findings


# ------------------------------------------------------------------------------ schema findings
def _examples(values: pd.Series, limit: int = 3) -> str:
    return ", ".join(repr(v) for v in pd.unique(values.dropna())[:limit])


def feature_kinds(reference: pd.DataFrame, params: Params, schema_file: Path | None) -> tuple[dict, dict]:
    """Column -> numerical|categorical (the model's schema, else the reference's values); known categories."""
    if schema_file is not None and Path(schema_file).exists():
        schema = load_schema(schema_file)
        kinds = dict.fromkeys(schema.numeric, "numerical")
        kinds |= dict.fromkeys(schema.categorical + schema.high_cardinality, "categorical")
        return {c: kinds[c] for c in reference if c in kinds}, schema.categories
    checked = [c for c in reference if c not in (params.data.target, *params.data.drop_columns)]
    numeric = {c: to_numbers(reference[c]).notna().eq(reference[c].notna()).all() for c in checked}
    kinds = {c: "numerical" if numeric[c] else "categorical" for c in checked if reference[c].notna().any()}
    return kinds, {}


def _typed(values: pd.Series, kind: str) -> pd.Series:
    return to_numbers(values) if kind == "numerical" else values.map(str, na_action="ignore").astype(object)


def check_schema(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, categories: dict):
    """Typed columns for Evidently, findings, and the columns decided (as drifted) by a schema error."""
    extra = "column {!r} is in the current data but not in the reference: ignored"
    findings = [finding("warning", "extra_column", extra.format(c), c) for c in current if c not in reference]
    ref, cur, decided = pd.DataFrame(), pd.DataFrame(), []
    for column, kind in kinds.items():
        raw = current.get(column, pd.Series(dtype=object))
        values = _typed(raw, kind)
        bad, present = raw[raw.notna() & values.isna()], int(raw.notna().sum())
        error = None
        if column not in current:
            error = "missing_column", f"feature column {column!r} is missing from the current data"
        elif present == 0:
            error = "all_missing", f"column {column!r} has no values in the current data (all missing)"
        elif len(bad) > CHANGED_TYPE_SHARE * present:
            share = f"{len(bad) / present:.0%} of its current values are not numbers (e.g. {_examples(bad)})"
            error = "changed_type", f"column {column!r} was numeric in the reference but {share}"
        if error:
            findings.append(finding("error", *error, column))
            decided.append(column)
            continue
        ref[column], cur[column] = _typed(reference[column], kind), values
        known = set(categories.get(column) or ref[column].dropna())
        unseen = values.dropna()[~values.dropna().isin(known)] if kind == "categorical" else []
        if len(bad):
            message = (
                f"{len(bad)} value(s) in the current sample are not numbers, ignored (e.g. {_examples(bad)})"
            )
            findings.append(finding("warning", "invalid_values", f"column {column!r}: {message}", column))
        elif len(unseen) and (column in categories or len(known) <= 50):  # not for high-cardinality text
            message = f"{unseen.nunique()} value(s) not seen in training ({_examples(unseen, 5)})"
            message += f" in {len(unseen) / present:.1%} of current rows"
            findings.append(finding("warning", "unseen_categories", f"column {column!r}: {message}", column))
    return ref, cur, findings, decided


# ------------------------------------------------------------------------------ Evidently
def _evidently() -> Any:
    """Evidently's modules; run_drift starts this import (seconds) in a thread while pyarrow reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # from Evidently's own imports
        import evidently.presets
        from evidently.legacy.calculations.stattests import registry
        from evidently.legacy.core import ColumnType
    return evidently, registry._registered_stat_tests, ColumnType


def _preload() -> None:
    with contextlib.suppress(Exception):  # an error shows when run_evidently imports it again
        _evidently()


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict, params: Params) -> tuple[Any, dict]:
    """ONE DataDriftPreset run: the snapshot and, per column, Evidently's score, method and verdict."""
    try:
        evidently, registry, column_type = _evidently()
    except ImportError as exc:
        raise UserError(f"Evidently is missing ({exc}): pip install -e '.[drift]' (`make setup`)") from None
    settings, columns = params.drift, list(ref.columns)
    methods = {c: s.method for c, s in settings.columns.items() if c in columns and s.method != "auto"}
    for column in columns:  # the method must suit the column (Evidently's registry says which do)
        method, kind = methods.get(column, settings.method), kinds[column]
        fits = [m for m in get_args(DriftMethod)[1:] if column_type[kind.title()] in registry[m]]
        key = f"drift.columns.{column}.method" if column in methods else "drift.method"
        if method not in ("auto", *fits):
            use = f"does not apply to the {kind} column {column!r}; use one of: {', '.join(fits)}"
            raise UserError(f"{key} is {method!r}, which {use}")
    thresholds = {c: s.threshold for c, s in settings.columns.items() if s.threshold and c in columns}
    method = None if settings.method == "auto" else settings.method
    preset = evidently.presets.DataDriftPreset(
        columns,
        drift_share=settings.drift_share,
        method=method,
        threshold=settings.threshold,
        per_column_method=methods,
        per_column_threshold=thresholds,
    )
    numerical = [c for c in columns if kinds[c] == "numerical"]
    categorical = [c for c in columns if c not in numerical]
    definition = evidently.DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    try:
        with warnings.catch_warnings():  # numpy's, about Evidently's internals: nothing for the user to do
            warnings.simplefilter("ignore", RuntimeWarning)
            data = [evidently.Dataset.from_pandas(d, data_definition=definition) for d in (cur, ref)]
            snapshot = evidently.Report([preset], include_tests=True).run(*data)
    except Exception as exc:
        raise UserError(f"Evidently could not run the drift report: {type(exc).__name__}: {exc}") from None
    names = {test.display_name: name for name, tests in registry.items() for test in tests.values()}
    report, results = snapshot.dict(), {}
    failed = {t["metric_config"]["metric_id"] for t in report["tests"] if t["status"] == "FAIL"}
    for metric in (m for m in report["metrics"] if m["config"]["type"].endswith(":ValueDrift")):
        config = metric["config"]
        method = names.get(config["method"], config["method"])  # a display name when Evidently chose it
        stat = "p_value" if "p_value" in next(iter(registry[method].values())).display_name else "distance"
        drift, score, threshold = metric["id"] in failed, float(metric["value"]), config["threshold"]
        result = dict(drift=drift, score=score, method=method, stat=stat, threshold=threshold)
        results[config["column"]] = result
    return snapshot, results


# ------------------------------------------------------------------------------ summary files
def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value != 0 and (abs(value) < 0.001 or abs(value) >= 1000) else f"{value:.3f}"


MARKDOWN = """### Data drift check: {verdict}
{error}
- Reference: `{reference[source]}` ({reference[rows]:,} rows)
- Current: `{current[source]}` ({current[rows]:,} rows)
"""
SHARE = "- Drifted columns: {drifted_columns} of {columns_checked} ({drifted_share:.1%}); "
SHARE += "dataset drift when at least {drift_share_threshold:.0%}: **{dataset_drift}**"
VERDICTS = {"drift": "**drift detected**", "no_drift": "no drift", "error": "**could not run**"}


def to_markdown(summary: dict[str, Any]) -> str:
    error = f"\nError: {summary['error']}\n" if summary["error"] else ""
    lines = [MARKDOWN.format(**summary | {"verdict": VERDICTS[summary["verdict"]], "error": error}).rstrip()]
    if summary["columns_checked"]:
        lines.append(SHARE.format(**summary | {"dataset_drift": "yes" if summary["dataset_drift"] else "no"}))
    if findings := sorted(summary["schema"]["findings"], key=lambda f: f["severity"] != "error"):
        lines += ["", "**Schema findings**", ""]
        lines += [f"- {f['severity']} ({f['kind']}): {f['message']}" for f in findings]
    if columns := sorted(summary["columns"].items(), key=lambda item: (not item[1]["drift"], item[0])):
        lines += ["", "| column | type | method | score | threshold | drift |", "|---|---|---|---:|---:|---|"]
        for name, c in columns[:MD_MAX_ROWS]:
            drift, score = "**yes**" if c["drift"] else "no", _fmt(c["score"])
            threshold = _fmt(c["threshold"])
            lines.append(f"| {name} | {c['type']} | {c['method']} | {score} | {threshold} | {drift} |")
        if len(columns) > MD_MAX_ROWS:
            lines.append(f"\n{len(columns) - MD_MAX_ROWS} more column(s) without drift in `summary.json`.")
    lines += ["", f"_{summary['sampling']['description']}_"] if "sampling" in summary else []
    return "\n".join(lines) + "\n"


def build_summary(
    reference: Table, current: Table, params: Params, columns: dict, findings: list, error=None
):
    """summary.json: per column, Evidently's result (or "schema" when a schema error decides it)."""
    drifted, settings = sum(c["drift"] for c in columns.values()), params.drift
    share = drifted / len(columns) if columns else 0.0
    dataset_drift = bool(columns) and share >= settings.drift_share  # the preset's rule
    schema_ok = not error and not any(f["severity"] == "error" for f in findings)
    verdict = "error" if error else "drift" if dataset_drift or not schema_ok else "no_drift"
    rows = max(len(reference.sample), len(current.sample))
    sample = f"a seeded uniform sample of at most {settings.sample_rows:,} rows a side (seed {settings.seed})"
    how = "all rows" if rows >= max(reference.rows, current.rows) else sample
    how = f"Evidently's DataDriftPreset, run once on {how}: the source of every number here."
    side = lambda t: {"source": t.source, "rows": t.rows, "sampled_rows": len(t.sample)}  # noqa: E731
    return {
        "verdict": verdict,
        "exit_code": {"error": EXIT_ERROR, "drift": EXIT_DRIFT, "no_drift": EXIT_OK}[verdict],
        "error": error,
        "dataset_drift": dataset_drift,
        "drifted_share": round(share, 6),
        "drifted_columns": drifted,
        "columns_checked": len(columns),
        "drift_share_threshold": settings.drift_share,
        "columns": columns,
        "schema": {"ok": schema_ok, "findings": findings},
        "reference": side(reference),
        "current": side(current),
        "sampling": dict(
            sample_rows=settings.sample_rows, report_rows=rows, seed=settings.seed, description=how
        ),
    }


# ------------------------------------------------------------------------------ the command
def run_drift(
    params: Params, current=None, reference=None, out_dir=None, schema_file=SCHEMA_FILE, html=True
) -> dict:
    """Run the check; write summary.json, summary.md (and report.html), also when it cannot run."""
    current = Path(current or params.drift.current or params.data.path)
    reference = Path(reference or params.drift.reference)
    out_dir, summary, snapshot = Path(out_dir or params.drift.output_dir), None, None
    threading.Thread(target=_preload, daemon=True).start()
    try:
        summary, snapshot = _run(params, current, reference, schema_file)
    except Exception as exc:
        if not isinstance(exc, UserError):  # a bug must not read as drift (exit 1): exit 2, with a traceback
            traceback.print_exc()
            exc = UserError(f"the drift check failed: {type(exc).__name__}: {exc} (traceback above)")
        empty = [Table(str(path), 0, pd.DataFrame()) for path in (reference, current)]
        summary = build_summary(*empty, params, {}, [], str(exc))
        raise exc from None
    finally:
        (out_dir / "report.html").unlink(missing_ok=True)
        if snapshot is not None and html:
            with atomic_path(out_dir / "report.html") as tmp:
                snapshot.save_html(str(tmp))
            summary["report"] = str(out_dir / "report.html")
        if summary is not None:
            write_json(out_dir / "summary.json", summary)
            write_text(out_dir / "summary.md", to_markdown(summary))
    return summary


def _run(params: Params, current_path: Path, reference_path: Path, schema_file: Path | None):
    settings, sep, rows = params.drift, params.data.sep, params.drift.sample_rows
    reference, _ = read_source(reference_path, "auto", sep, rows, settings.seed, "reference")
    if reference.rows == 0:
        raise UserError(f"reference data {reference_path} has no rows: retrain with `make repro`")
    kinds, categories = feature_kinds(reference.sample, params, schema_file)
    current, findings = read_source(current_path, settings.format, sep, rows, settings.seed + 1, "current")
    for column in (c for c in settings.columns if c not in kinds):
        message = f"drift.columns names {column!r}, which is not a checked feature column"
        findings.append(finding("warning", "unknown_column_setting", message, column))
    if current.rows == 0:
        message = f"current data {current_path} has no rows: nothing to check"
        findings.append(finding("error", "empty", message))
        error = f"current data {current_path} is empty (no rows): is the data source down?"
        return build_summary(reference, current, params, {}, findings, error), None
    ref, cur, schema_findings, decided = check_schema(reference.sample, current.sample, kinds, categories)
    snapshot, results = run_evidently(ref, cur, kinds, params) if len(ref.columns) else (None, {})
    schema_error = {"drift": True, "score": None, "method": "schema", "stat": "schema", "threshold": None}
    columns = {}
    for column in (c for c in kinds if c in results or c in decided):
        values = current.sample.get(column, pd.Series(dtype=object))
        columns[column] = results.get(column, schema_error) | {
            "type": kinds[column],
            "reference_rows": int(reference.sample[column].notna().sum()),
            "current_rows": int(values.notna().sum()),
            "current_missing_share": round(float(values.isna().mean()), 6) if len(values) else None,
        }
    return build_summary(reference, current, params, columns, findings + schema_findings), snapshot


# ------------------------------------------------------------------------------ demo data
def simulate_current(reference: pd.DataFrame, drift: bool, seed: int, rows=None, shift=1.0, exclude=()):
    """A "current" batch resampled from the reference. With ``drift``, a seeded 70% of the columns (not
    ``exclude``: the target) move: numbers by ``shift`` sd, booleans flip, categories swap frequencies."""
    rng = np.random.default_rng(seed)
    frame = reference.iloc[rng.integers(0, len(reference), size=rows or len(reference))]
    frame = frame.reset_index(drop=True)
    candidates = [c for c in frame if c not in exclude and frame[c].notna().any()]
    count = min(max(1, math.ceil(SIMULATED_SHARE * len(candidates))), len(candidates)) if drift else 0
    for column in rng.choice(candidates, size=count, replace=False).tolist():
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            frame[column] = ~values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values):
            moved = values + shift * (float(values.std()) or 1.0)
            integer = pd.api.types.is_integer_dtype(values)
            frame[column] = moved.round().astype(values.dtype) if integer else moved
        else:
            counts = values.value_counts()
            frame[column] = values.map(dict(zip(counts.index, counts.index[::-1], strict=True)))
    return frame


def write_frame(frame: pd.DataFrame, path: Path, sep: str = ",") -> None:
    """As CSV, Parquet or prediction-log JSON lines (``{"features": {...}}``), from the file name."""
    with atomic_path(path) as tmp:
        if _format(path) == "parquet":
            frame.to_parquet(tmp, index=False)
        elif _format(path) == "logs":
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            tmp.write_text("".join(json.dumps({"features": r}, default=str) + "\n" for r in records))
        else:
            frame.to_csv(tmp, index=False, sep=sep)

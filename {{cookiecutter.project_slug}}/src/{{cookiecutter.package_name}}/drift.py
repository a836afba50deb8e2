"""Data drift: compare current data with the data the deployed model was trained on.

pyarrow reads the reference (``drift.reference``, the training split; column kinds from
``models/schema.json`` when present) and the current data (``drift.current``: CSV, Parquet or prediction
logs) in one pass each, into a seeded uniform sample of at most ``drift.sample_rows`` rows. After our
schema checks, Evidently's ``DataDriftPreset`` runs ONCE on the samples (``drift.method``/``threshold``/
``columns`` are its options): that one snapshot gives every number of ``report.html``, ``summary.json``
and ``summary.md``. Exit codes: 0 no drift, 1 drift (or a schema error such as a missing column), 2 error.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import DriftMethod, Params
from .errors import UserError
from .features import load_schema, to_numbers
from .io import SCHEMA_FILE, atomic_path, write_json, write_text

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
MD_MAX_ROWS = 25  # summary.md lists at most this many columns (summary.json has them all)
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


def _sample(batches: Any, k: int, seed: int) -> tuple[pd.DataFrame, int]:
    """The ``k`` rows with the smallest seeded random keys (a uniform sample) and the row count."""
    rng, kept, keys, rows, cutoff = np.random.default_rng(seed), [], [], 0, 1.0
    for batch in batches:
        draw, rows = rng.random(batch.num_rows), rows + batch.num_rows
        chosen = np.flatnonzero(draw < cutoff)  # later rows need a key below the k-th smallest so far
        kept.append(pa.Table.from_batches([batch]).take(chosen))
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


def _format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return "logs" if declared == "predictions" else declared
    name = path.name.lower().removesuffix(".gz")
    logs = path.is_dir() or name.endswith((".jsonl", ".ndjson", ".json"))
    return "logs" if logs else "parquet" if name.endswith((".parquet", ".pq")) else "csv"


def _records(line: str) -> list[dict]:
    """Feature records, values as text, of a log line: ``{"features": ...}``, ``instances``, ``inputs``,
    a list of records or one record (none if the line is not JSON)."""
    with contextlib.suppress(json.JSONDecodeError):
        value = json.loads(line)
        if isinstance(value, dict):
            value = next((value[k] for k in ("features", "instances", "inputs") if k in value), value)
        items = [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, dict)]
        return [{k: str(v) for k, v in item.items() if v is not None} for item in items]
    return []


def _log_records(path: Path, findings: list[dict]):
    """The records of the prediction logs at ``path``: a file or a folder of them, gzipped or not."""
    bad, files = [], sorted(p for p in path.rglob("*") if p.is_file() and _format(p) == "logs")
    for file in files if path.is_dir() else [path]:
        try:
            with (gzip.open if file.name.endswith(".gz") else open)(file, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    records = _records(line)
                    bad += [] if records or not line.strip() else [f"{file}:{number}"]
                    yield from records
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise UserError(f"cannot read prediction log {file}: {exc}") from None
    if bad:
        message = f"{len(bad)} log line(s) hold no feature record and were skipped (first: {bad[0]})"
        findings.append(finding("warning", "unreadable_log_lines", message))


def _batches(path: Path, fmt: str, sep: str, findings: list[dict], chunk: int = 50_000):
    """The source as Arrow record batches (every CSV and log value as text)."""
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(65_536)
    elif fmt == "logs":
        records = _log_records(path, findings)
        while batch := list(itertools.islice(records, chunk)):
            yield pa.RecordBatch.from_pandas(pd.DataFrame.from_records(batch), preserve_index=False)
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            names = next(csv.reader(handle, delimiter=sep), [])
        text = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True)
        parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
        yield from pacsv.open_csv(path, pacsv.ReadOptions(block_size=8 << 20), parse, text) if names else []


def read_source(path: Path, fmt: str, sep: str, k: int, seed: int, role: str) -> tuple[Table, list[dict]]:
    """A seeded sample of a CSV, a Parquet file or prediction logs, and findings about unreadable lines."""
    if not path.exists():
        raise UserError(f"{role} data {path} does not exist: {HINTS[role].format(package=__package__)}")
    fmt, findings = _format(path, fmt), []
    if path.is_dir() and fmt != "logs":
        raise UserError(f"{role} data {path} is a folder; set drift.format: predictions for prediction logs")
    try:
        sample, rows = _sample(_batches(path, fmt, sep, findings), k, seed)
    except UnicodeDecodeError as exc:
        raise UserError(f"{role} data {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except (ValueError, OSError, TypeError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise UserError(f"{role} data {path} is not a readable {fmt} file: {message}") from None
    sample.columns = [str(c).strip() for c in sample.columns]
    return Table(str(path), rows, sample), findings


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


def check_schema(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, categories: dict):
    """Typed columns for Evidently, findings, and the columns decided (as drifted) by a schema error."""
    extra = "column {!r} is in the current data but not in the reference: ignored"
    findings = [finding("warning", "extra_column", extra.format(c), c) for c in current if c not in reference]
    ref, cur, decided = pd.DataFrame(), pd.DataFrame(), []
    examples = lambda values, n=3: ", ".join(repr(v) for v in pd.unique(values.dropna())[:n])  # noqa: E731
    for column, kind in kinds.items():
        typed = to_numbers if kind == "numerical" else lambda v: v.map(str, na_action="ignore").astype(object)
        raw = current.get(column, pd.Series(dtype=object))
        values = typed(raw)
        bad, present, name = raw[raw.notna() & values.isna()], int(raw.notna().sum()), repr(column)
        error = None
        if column not in current:
            error = "missing_column", f"feature column {name} is missing from the current data"
        elif present == 0:
            error = "all_missing", f"column {name} has no values in the current data (all missing)"
        elif len(bad) > present / 2:  # mostly not numbers: the column changed type
            share = f"{len(bad) / present:.0%} of its current values are not numbers (e.g. {examples(bad)})"
            error = "changed_type", f"column {name} was numeric in the reference but {share}"
        if error:
            findings.append(finding("error", *error, column))
            decided.append(column)
            continue
        ref[column], cur[column] = typed(reference[column]), values
        known = set(categories.get(column) or ref[column].dropna())
        unseen = values.dropna()[~values.dropna().isin(known)] if kind == "categorical" else []
        if len(bad):
            shown = examples(bad)
            note = f"{len(bad)} value(s) in the current sample are not numbers, ignored (e.g. {shown})"
            findings.append(finding("warning", "invalid_values", f"column {name}: {note}", column))
        elif len(unseen) and (column in categories or len(known) <= 50):  # not for high-cardinality text
            note = f"{unseen.nunique()} value(s) not seen in training ({examples(unseen, 5)})"
            note += f" in {len(unseen) / present:.1%} of current rows"
            findings.append(finding("warning", "unseen_categories", f"column {name}: {note}", column))
    return ref, cur, findings, decided


def _evidently(preload: bool = False) -> Any:
    """Evidently's modules; run_drift preloads them (seconds) in a thread while pyarrow reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # from Evidently's own imports
            import evidently.presets
            from evidently.legacy.calculations.stattests import registry
            from evidently.legacy.core import ColumnType
    except ImportError as exc:  # in the preload thread: the error shows when run_evidently imports again
        if preload:
            return None
        raise UserError(f"Evidently is missing ({exc}): pip install -e '.[drift]' (`make setup`)") from None
    return evidently, registry._registered_stat_tests, ColumnType


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict, params: Params) -> tuple[Any, dict]:
    """ONE DataDriftPreset run: the snapshot and, per column, Evidently's score, method and verdict."""
    evidently, registry, column_type = _evidently()
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
    options = dict(method=method, threshold=settings.threshold, drift_share=settings.drift_share)
    options |= dict(per_column_method=methods, per_column_threshold=thresholds)
    preset = evidently.presets.DataDriftPreset(columns, **options)
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
        config, column = metric["config"], metric["config"]["column"]
        method = names.get(config["method"], config["method"])  # a display name when Evidently chose it
        stat = "p_value" if "p_value" in next(iter(registry[method].values())).display_name else "distance"
        drift, score, threshold = metric["id"] in failed, float(metric["value"]), config["threshold"]
        results[column] = dict(drift=drift, score=score, method=method, stat=stat, threshold=threshold)
    return snapshot, results


MARKDOWN = """### Data drift check: {verdict}
{error}
- Reference: `{reference[source]}` ({reference[rows]:,} rows)
- Current: `{current[source]}` ({current[rows]:,} rows)
"""
SHARE = "- Drifted columns: {drifted_columns} of {columns_checked} ({drifted_share:.1%}); "
SHARE += "dataset drift when at least {drift_share_threshold:.0%}: **{dataset_drift}**"
VERDICTS = {"drift": "**drift detected**", "no_drift": "no drift", "error": "**could not run**"}


def to_markdown(summary: dict[str, Any]) -> str:
    number = lambda value: "-" if value is None else f"{value:.3g}"  # noqa: E731
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
            cells = [name, c["type"], c["method"], number(c["score"]), number(c["threshold"])]
            lines.append("| " + " | ".join([*cells, "**yes**" if c["drift"] else "no"]) + " |")
        if len(columns) > MD_MAX_ROWS:
            lines.append(f"\n{len(columns) - MD_MAX_ROWS} more column(s) without drift in `summary.json`.")
    return "\n".join([*lines, "", f"_{summary['sampling']['description']}_", ""])


def build_summary(reference: Table, current: Table, params: Params, columns: dict, findings, error=None):
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
    sampling = dict(sample_rows=settings.sample_rows, report_rows=rows, seed=settings.seed, description=how)
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
        "sampling": sampling,
    }


def run_drift(params: Params, current=None, reference=None, out_dir=None, schema_file=SCHEMA_FILE, html=True):
    """Run the check; write summary.json, summary.md (and report.html), also when it cannot run."""
    current = Path(current or params.drift.current or params.data.path)
    reference = Path(reference or params.drift.reference)
    out_dir, snapshot, error = Path(out_dir or params.drift.output_dir), None, None
    threading.Thread(target=_evidently, args=(True,), daemon=True).start()
    try:
        summary, snapshot = _run(params, current, reference, schema_file)
    except Exception as exc:
        error = exc
        if not isinstance(exc, UserError):  # a bug must not read as drift (exit 1): exit 2, with a traceback
            traceback.print_exc()
            error = UserError(f"the drift check failed: {type(exc).__name__}: {exc} (traceback above)")
        empty = [Table(str(path), 0, pd.DataFrame()) for path in (reference, current)]
        summary = build_summary(*empty, params, {}, [], str(error))
    (out_dir / "report.html").unlink(missing_ok=True)
    if snapshot is not None and html:
        with atomic_path(out_dir / "report.html") as tmp:
            snapshot.save_html(str(tmp))
        summary["report"] = str(out_dir / "report.html")
    write_json(out_dir / "summary.json", summary)
    write_text(out_dir / "summary.md", to_markdown(summary))
    if error:
        raise error
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


def simulate_current(reference: pd.DataFrame, drift: bool, seed: int, rows=None, shift=1.0, exclude=()):
    """A "current" batch resampled from the reference. With ``drift``, a seeded 70% of the columns (not
    ``exclude``: the target) move: numbers by ``shift`` sd, booleans flip, categories swap frequencies."""
    rng = np.random.default_rng(seed)
    frame = reference.sample(rows or len(reference), replace=True, random_state=rng, ignore_index=True)
    candidates = [c for c in frame if c not in exclude and frame[c].notna().any()]
    count = min(max(1, int(np.ceil(0.7 * len(candidates)))), len(candidates)) if drift else 0
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

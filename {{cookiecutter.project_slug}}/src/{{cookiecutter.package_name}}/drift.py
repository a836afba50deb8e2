"""Data drift: compare current data with the data the deployed model was trained on.

``python -m {{ cookiecutter.package_name }} drift`` (``make drift``) reads the **reference**
(``drift.reference``, by default the training split pinned by ``dvc.lock``; column kinds from
``models/schema.json`` when present) and the **current** data (``drift.current``: a CSV or
Parquet file, or the model server's JSON-lines prediction logs, a file or a folder).

Both are read with pyarrow in one streaming pass into a seeded uniform sample of at most
``drift.sample_rows`` rows per side (the rows with the smallest random keys: memory stays
bounded whatever the size). Our own code only reads, samples and checks the schema (missing,
extra, changed-type columns); Evidently's ``DataDriftPreset`` runs ONCE on the sample and its
snapshot gives every number of ``reports/drift/``: ``report.html``, ``summary.json`` and
``summary.md``. ``drift.method``/``threshold`` and ``drift.columns`` map to the preset's
``method``/``threshold`` and ``per_column_method``/``per_column_threshold``.

Exit codes: 0 no drift; 1 drift (dataset drift, or a schema error such as a missing column);
2 the check could not run (bad params, unreadable or empty data, Evidently missing).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import threading
import warnings
from dataclasses import asdict, dataclass
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
HTML_NAME, JSON_NAME, MD_NAME = "report.html", "summary.json", "summary.md"
CHANGED_TYPE_SHARE = 0.5  # share of non-numbers that makes a numeric column "changed type"
MD_MAX_ROWS = 25  # summary.md lists at most this many columns (summary.json has them all)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
LOG_CHUNK = 50_000


@dataclass
class Finding:
    severity: str  # "error" (counts as drift) or "warning"
    kind: str  # missing_column, extra_column, changed_type, invalid_values, all_missing, ...
    message: str
    column: str | None = None


@dataclass
class Table:
    source: str
    rows: int  # rows in the whole source
    sample: pd.DataFrame  # a seeded uniform sample of at most sample_rows of them


@dataclass
class DriftResult:
    summary: dict[str, Any]
    markdown: str
    exit_code: int


# ------------------------------------------------------------------------------ reading, sampling
def _sample(tables: Any, k: int, seed: int) -> tuple[pd.DataFrame, int]:
    """The ``k`` rows with the smallest seeded random keys (uniform, bounded memory) and the row count."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    kept: list[pa.Table] = []
    keys: list[np.ndarray] = []
    rows, cutoff = 0, 1.0
    for table in tables:
        draw = rng.random(table.num_rows)
        rows += table.num_rows
        chosen = np.flatnonzero(draw < cutoff)
        kept.append(table.take(chosen))
        keys.append(draw[chosen])
        if sum(map(len, keys)) > 2 * k:  # keep the k best so far; later rows need a smaller key
            table, key = pa.concat_tables(kept, promote_options="default"), np.concatenate(keys)
            best = np.argpartition(key, k - 1)[:k]
            kept, keys, cutoff = [table.take(best)], [key[best]], float(key[best].max())
    if not kept:
        return pd.DataFrame(), rows
    table, key = pa.concat_tables(kept, promote_options="default"), np.concatenate(keys)
    table = table.take(np.argsort(key, kind="stable")[:k])
    for i, column in enumerate(table.columns):  # text columns that are all numbers: Arrow's fast cast
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            table = table.set_column(i, table.field(i).name, column.cast(pa.float64()))
    return table.to_pandas(), rows


def _csv_tables(path: Path, sep: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8") as handle:
        names = next(csv.reader(handle, delimiter=sep), [])
    if not names:
        return
    reader = pacsv.open_csv(  # every column as text: the sample is typed afterwards
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
        ),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _records(value: Any) -> list[dict]:
    """Feature dicts of one log line: ``{"features": {...} or [...], ...}`` (also ``instances``,
    ``inputs``), a plain list of feature dicts, or a plain feature dict."""
    if isinstance(value, dict):
        key = next((k for k in ("features", "instances", "inputs") if k in value), None)
        value = value if key is None else value[key]
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _log_tables(path: Path, findings: list[Finding]):
    import gzip

    import pyarrow as pa

    def table(records: list[dict]) -> pa.Table:
        frame = pd.DataFrame.from_records(records)
        return pa.table(
            {str(c): pa.array(frame[c].map(_text, na_action="ignore"), pa.string()) for c in frame}
        )

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if _format(p, "auto") == "logs")
    buffer, bad, first_bad = [], 0, ""
    for file in files:
        try:
            with (gzip.open if file.name.endswith(".gz") else open)(file, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    try:
                        records = _records(json.loads(line)) if line.strip() else None
                    except json.JSONDecodeError:
                        records = []
                    if records == []:
                        bad, first_bad = bad + 1, first_bad or f"{file}:{number}"
                    buffer += records or []
                    if len(buffer) >= LOG_CHUNK:
                        yield table(buffer)
                        buffer = []
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise UserError(f"cannot read prediction log {file}: {exc}") from None
    if buffer:
        yield table(buffer)
    if bad:
        message = f"{bad} log line(s) hold no feature record and were skipped (first: {first_bad})"
        findings.append(Finding("warning", "unreadable_log_lines", message))


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _format(path: Path, declared: str) -> str:
    name = path.name.lower().removesuffix(".gz")
    if declared != "auto":
        return "logs" if declared == "predictions" else declared
    if path.is_dir() or name.endswith(JSONL_SUFFIXES):
        return "logs"
    return "parquet" if name.endswith((".parquet", ".pq")) else "csv"


def read_source(path: Path, fmt: str, sep: str, k: int, seed: int, role: str) -> tuple[Table, list[Finding]]:
    """A seeded sample of a CSV, Parquet file or prediction logs, and findings about unreadable lines."""
    if not path.exists():
        hint = (
            "train first (`make repro`, or `dvc pull` to fetch the outputs of the last training)"
            if role == "reference"
            else f"refresh it (`dvc update`/`dvc pull`, or `python -m {__package__} simulate-current` "
            "for a demo) or fix drift.current in params.yaml"
        )
        raise UserError(f"{role} data {path} does not exist: {hint}")
    fmt, findings = _format(path, fmt), []
    if path.is_dir() and fmt != "logs":
        raise UserError(f"{role} data {path} is a folder; set drift.format: predictions for prediction logs")
    try:
        if fmt == "logs":
            tables = _log_tables(path, findings)
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            tables = map(pa.Table.from_batches, ([b] for b in pq.ParquetFile(path).iter_batches(65_536)))
        else:
            tables = _csv_tables(path, sep)
        sample, rows = _sample(tables, k, seed)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except (ValueError, OSError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{role} data {path} is not a readable {fmt} file: {message}") from None
    sample.columns = [str(c).strip() for c in sample.columns]
    return Table(str(path), rows, sample), findings


# ------------------------------------------------------------------------------ schema findings
def _examples(values: pd.Series, limit: int = 3) -> str:
    return ", ".join(repr(v) for v in pd.unique(values.dropna())[:limit])


def _numeric(values: pd.Series) -> bool:
    return bool(values.notna().any()) and bool(to_numbers(values).notna().eq(values.notna()).all())


def feature_kinds(reference: pd.DataFrame, params: Params, schema_file: Path | None) -> tuple[dict, dict]:
    """Column -> numerical|categorical (from the model's schema, else from the reference) and known categories."""
    if schema_file is not None and Path(schema_file).exists():
        schema = load_schema(schema_file)
        kinds = {c: "numerical" for c in schema.numeric}
        kinds |= {c: "categorical" for c in schema.categorical + schema.high_cardinality}
        return {c: kinds[c] for c in reference.columns if c in kinds}, schema.categories
    ignored = {params.data.target, *params.data.drop_columns}
    kinds = {
        c: "numerical" if _numeric(reference[c]) else "categorical" for c in reference if c not in ignored
    }
    return {c: kind for c, kind in kinds.items() if reference[c].notna().any()}, {}


def _typed(values: pd.Series, kind: str) -> pd.Series:
    if kind == "numerical":
        return to_numbers(values)
    return values.map(str, na_action="ignore").astype(object)


def check_schema(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, categories: dict):
    """Typed columns for Evidently, findings, and the columns decided (as drifted) by a schema error."""
    findings = [
        Finding("warning", "extra_column", f"column {c!r} is in the current data but not in the reference", c)
        for c in current.columns
        if c not in reference.columns
    ]
    ref, cur, decided = pd.DataFrame(), pd.DataFrame(), []

    def error(column: str, kind: str, message: str) -> None:
        findings.append(Finding("error", kind, message, column))
        decided.append(column)

    for column, kind in kinds.items():
        if column not in current.columns:
            error(column, "missing_column", f"feature column {column!r} is missing from the current data")
            continue
        raw, values = current[column], _typed(current[column], kind)
        present = max(int(raw.notna().sum()), 1)
        bad = raw[raw.notna() & values.isna()]
        known = (
            set(categories.get(column) or reference[column].dropna().astype(str))
            if kind != "numerical"
            else set()
        )
        if raw.notna().sum() == 0:
            error(column, "all_missing", f"column {column!r} has no values in the current data (all missing)")
        elif len(bad) / present > CHANGED_TYPE_SHARE:
            error(
                column,
                "changed_type",
                f"column {column!r} was numeric in the reference but {len(bad) / present:.0%} of its current "
                f"values are not numbers (e.g. {_examples(bad)})",
            )
        elif (
            kind == "categorical"
            and not _numeric(reference[column])
            and _numeric(raw)
            and not known & set(values)
        ):
            error(column, "changed_type", f"column {column!r} was text but every current value is a number")
        else:
            ref[column], cur[column] = _typed(reference[column], kind), values
            unseen = values.dropna()[~values.dropna().isin(known)]
            if len(bad):
                message = f"column {column!r}: {len(bad)} current value(s) in the sample are not numbers "
                findings.append(
                    Finding(
                        "warning",
                        "invalid_values",
                        f"{message}(e.g. {_examples(bad)}); treated as missing",
                        column,
                    )
                )
            elif kind == "categorical" and len(unseen) and (column in categories or len(known) <= 50):
                message = f"column {column!r}: {unseen.nunique()} value(s) not seen in training ({_examples(unseen, 5)})"
                findings.append(
                    Finding(
                        "warning",
                        "unseen_categories",
                        f"{message} in {len(unseen) / present:.1%} of rows",
                        column,
                    )
                )
    return ref, cur, findings, decided


# ------------------------------------------------------------------------------ Evidently
def _evidently() -> Any:
    """Evidently's modules; run_drift starts this import (seconds) in a thread while pyarrow reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # from Evidently's own imports
        import evidently
        import evidently.presets
        from evidently.legacy.calculations.stattests import registry
        from evidently.legacy.core import ColumnType
    return evidently, evidently.presets.DataDriftPreset, registry._registered_stat_tests, ColumnType


def _preload() -> None:
    with contextlib.suppress(Exception):  # reported by run_evidently's own import
        _evidently()


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict, params: Params):
    """ONE DataDriftPreset run; returns (snapshot, {column: result}) with Evidently's scores and verdicts."""
    try:
        evidently, DataDriftPreset, registry, Kind = _evidently()  # noqa: N806
    except ImportError as exc:
        raise UserError(
            f"Evidently is not installed ({exc}): pip install -e '.[drift]' (or `make setup`)"
        ) from None
    settings, columns = params.drift, list(ref.columns)
    chosen = {c: s.method for c, s in settings.columns.items() if c in kinds and s.method != "auto"}
    for column in columns:  # a method must suit the column's kind (Evidently's own registry says)
        method = chosen.get(column, settings.method)
        key = f"drift.columns.{column}.method" if column in chosen else "drift.method"
        fits = lambda m: Kind[kinds[column].capitalize()] in registry[m]  # noqa: E731, B023
        if method != "auto" and not fits(method):
            allowed = ", ".join(m for m in get_args(DriftMethod) if m != "auto" and fits(m))
            raise UserError(
                f"{key} is {method!r}, which does not apply to the {kinds[column]} column {column!r}; use: {allowed}"
            )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=settings.drift_share,
        method=None if settings.method == "auto" else settings.method,
        threshold=settings.threshold,
        per_column_method=chosen,
        per_column_threshold={
            c: s.threshold for c, s in settings.columns.items() if s.threshold and c in kinds
        },
    )
    definition = evidently.DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numerical"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
    )
    try:
        with warnings.catch_warnings():  # numpy's about Evidently's internals: not the user's to act on
            warnings.simplefilter("ignore", RuntimeWarning)
            snapshot = evidently.Report([preset], include_tests=True).run(
                evidently.Dataset.from_pandas(cur, data_definition=definition),
                evidently.Dataset.from_pandas(ref, data_definition=definition),
            )
    except Exception as exc:
        raise UserError(f"Evidently could not run the drift report: {type(exc).__name__}: {exc}") from None
    names = {test.display_name: name for name, tests in registry.items() for test in tests.values()}
    report = snapshot.dict()
    failed = {t["metric_config"]["metric_id"] for t in report["tests"] if t["status"] == "FAIL"}
    results = {}
    for metric in report["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            method = names.get(config["method"], config["method"])
            display = next(iter(registry[method].values())).display_name if method in registry else method
            results[config["column"]] = {
                "drift": metric["id"] in failed,
                "score": float(metric["value"]),
                "method": method,
                "stat": "p_value" if "p_value" in display else "distance",
                "threshold": config["threshold"],
            }
    return snapshot, results


# ------------------------------------------------------------------------------ summary files
def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value != 0 and (abs(value) < 0.001 or abs(value) >= 1000) else f"{value:.3f}"


def to_markdown(summary: dict[str, Any]) -> str:
    verdict = {"drift": "**drift detected**", "no_drift": "no drift", "error": "**could not run**"}
    ref, cur = summary["reference"], summary["current"]
    lines = [f"### Data drift check: {verdict[summary['verdict']]}", ""]
    lines += [f"Error: {summary['error']}", ""] if summary.get("error") else []
    lines += [
        f"- Reference: `{ref['source']}` ({ref['rows']:,} rows)",
        f"- Current: `{cur['source']}` ({cur['rows']:,} rows)",
    ]
    if summary["columns_checked"]:
        lines.append(
            f"- Drifted columns: {summary['drifted_columns']} of {summary['columns_checked']} "
            f"({summary['drifted_share']:.1%}); dataset drift when at least {summary['drift_share_threshold']:.0%}: "
            f"**{'yes' if summary['dataset_drift'] else 'no'}**"
        )
    findings = sorted(summary["schema"]["findings"], key=lambda f: f["severity"] != "error")
    if findings:
        lines += [
            "",
            "**Schema findings**",
            "",
            *(f"- {f['severity']} ({f['kind']}): {f['message']}" for f in findings),
        ]
    columns = sorted(summary["columns"].items(), key=lambda item: (not item[1]["drift"], item[0]))
    if columns:
        lines += ["", "| column | type | method | score | threshold | drift |", "|---|---|---|---:|---:|---|"]
        for name, col in columns[:MD_MAX_ROWS]:
            lines.append(
                f"| {name} | {col['type']} | {col['method']} | {_fmt(col['score'])} | {_fmt(col['threshold'])} "
                f"| {'**yes**' if col['drift'] else 'no'} |"
            )
        if len(columns) > MD_MAX_ROWS:
            lines.append(f"\n{len(columns) - MD_MAX_ROWS} more column(s) without drift in `summary.json`.")
    if summary.get("sampling"):
        lines += ["", f"_{summary['sampling']['description']}_"]
    return "\n".join(lines) + "\n"


def build_summary(
    reference: Table,
    current: Table,
    params: Params,
    kinds: dict,
    results: dict,
    findings: list,
    error: str | None = None,
) -> dict[str, Any]:
    """summary.json: Evidently's per-column results, plus columns decided by schema errors (as drifted)."""
    settings = params.drift
    drifted = sum(r["drift"] for r in results.values())
    share = drifted / len(results) if results else 0.0
    dataset_drift = bool(results) and share >= settings.drift_share  # the preset's rule
    schema_errors = [f for f in findings if f.severity == "error"]
    verdict = "error" if error else "drift" if dataset_drift or schema_errors else "no_drift"
    sampled = max(len(reference.sample), len(current.sample))
    description = (
        f"Evidently DataDriftPreset on a seeded uniform sample of at most {settings.sample_rows:,} rows per side "
        f"(seed {settings.seed}); report.html, summary.json and summary.md come from that one run."
        if max(reference.rows, current.rows) > sampled
        else "Evidently DataDriftPreset on all rows; report.html, summary.json and summary.md come from that one run."
    )
    columns = {}
    for column, result in results.items():
        values = current.sample[column] if column in current.sample else pd.Series(dtype=object)
        columns[column] = {
            **result,
            "type": kinds[column],
            "reference_rows": int(reference.sample[column].notna().sum()),
            "current_rows": int(values.notna().sum()),
            "current_missing_share": round(float(values.isna().mean()), 6) if len(values) else None,
        }
    return {
        "verdict": verdict,
        "exit_code": {"error": EXIT_ERROR, "drift": EXIT_DRIFT, "no_drift": EXIT_OK}[verdict],
        "error": error,
        "dataset_drift": dataset_drift,
        "drifted_share": round(share, 6),
        "drifted_columns": drifted,
        "columns_checked": len(results),
        "drift_share_threshold": settings.drift_share,
        "columns": columns,
        "schema": {"ok": not schema_errors, "findings": [asdict(f) for f in findings]},
        "reference": {
            "source": reference.source,
            "rows": reference.rows,
            "sampled_rows": len(reference.sample),
        },
        "current": {"source": current.source, "rows": current.rows, "sampled_rows": len(current.sample)},
        "sampling": {
            "sample_rows": settings.sample_rows,
            "report_rows": sampled,
            "seed": settings.seed,
            "description": description,
        },
    }


def _publish(out_dir: Path, summary: dict[str, Any], snapshot: Any = None) -> DriftResult:
    html = out_dir / HTML_NAME
    if snapshot is None:
        html.unlink(missing_ok=True)
    else:
        with atomic_path(html) as tmp:
            snapshot.save_html(str(tmp))
        summary["report"] = str(html)
    markdown = to_markdown(summary)
    write_json(out_dir / JSON_NAME, summary)
    write_text(out_dir / MD_NAME, markdown)
    return DriftResult(summary, markdown, summary["exit_code"])


# ------------------------------------------------------------------------------ the command
def run_drift(
    params: Params,
    current: Path | None = None,
    reference: Path | None = None,
    out_dir: Path | None = None,
    schema_file: Path | None = SCHEMA_FILE,
    html: bool = True,
) -> DriftResult:
    """Run the check; write summary.json, summary.md (and report.html), also when it cannot run."""
    settings = params.drift
    out_dir = Path(out_dir or settings.output_dir)
    current = Path(current or settings.current or params.data.path)
    reference = Path(reference or settings.reference)
    threading.Thread(target=_preload, daemon=True).start()
    try:
        return _run(params, current, reference, out_dir, schema_file, html)
    except UserError as exc:
        empty = pd.DataFrame()
        summary = build_summary(
            Table(str(reference), 0, empty), Table(str(current), 0, empty), params, {}, {}, [], str(exc)
        )
        summary["schema"]["ok"] = False
        del summary["sampling"]
        _publish(out_dir, summary)
        raise


def _run(
    params: Params,
    current_path: Path,
    reference_path: Path,
    out_dir: Path,
    schema_file: Path | None,
    html: bool,
) -> DriftResult:
    settings, sep = params.drift, params.data.sep
    reference, _ = read_source(reference_path, "auto", sep, settings.sample_rows, settings.seed, "reference")
    if reference.rows == 0:
        raise UserError(f"reference data {reference_path} has no rows: retrain with `make repro`")
    kinds, categories = feature_kinds(reference.sample, params, schema_file)
    current, findings = read_source(
        current_path, settings.format, sep, settings.sample_rows, settings.seed + 1, "current"
    )
    findings += [
        Finding(
            "warning",
            "unknown_column_setting",
            f"drift.columns names {c!r}, which is not a checked column",
            c,
        )
        for c in settings.columns
        if c not in kinds
    ]
    if current.rows == 0:
        findings.append(
            Finding("error", "empty", f"current data {current_path} has no rows: nothing to compare")
        )
        error = f"current data {current_path} is empty (no rows): is the data source down?"
        return _publish(out_dir, build_summary(reference, current, params, kinds, {}, findings, error))
    ref, cur, schema_findings, decided = check_schema(reference.sample, current.sample, kinds, categories)
    snapshot, results = run_evidently(ref, cur, kinds, params) if len(ref.columns) else (None, {})
    for column in decided:
        results[column] = {
            "drift": True,
            "score": None,
            "method": "schema",
            "stat": "schema",
            "threshold": None,
        }
    results = {c: results[c] for c in kinds if c in results}
    summary = build_summary(reference, current, params, kinds, results, findings + schema_findings)
    return _publish(out_dir, summary, snapshot if html else None)


# ------------------------------------------------------------------------------ demo data
def simulate_current(
    reference: pd.DataFrame,
    drift: bool,
    seed: int,
    rows: int | None = None,
    shift: float = 1.0,
    share: float = 0.7,
    exclude: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A "current" batch resampled from the reference; with ``drift``, shifted.

    With drift, a seeded ``share`` of the columns (not ``exclude``, the target) move: numbers by
    ``shift`` standard deviations, booleans flip, text columns swap the frequencies of their categories.
    """
    rng = np.random.default_rng(seed)
    frame = reference.iloc[rng.integers(0, len(reference), size=rows or len(reference))].reset_index(
        drop=True
    )
    candidates = [c for c in frame.columns if c not in exclude and frame[c].notna().any()]
    count = min(max(1, math.ceil(share * len(candidates))), len(candidates))
    for column in rng.choice(candidates, size=count, replace=False).tolist() if drift else []:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            frame[column] = ~values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values):
            moved = values + shift * (float(values.std()) or 1.0)
            frame[column] = (
                moved.round().astype(values.dtype) if pd.api.types.is_integer_dtype(values) else moved
            )
        else:
            counts = values.value_counts()
            frame[column] = values.map(dict(zip(counts.index, counts.index[::-1], strict=True))).where(
                values.notna()
            )
    return frame


def write_frame(frame: pd.DataFrame, path: Path, sep: str = ",") -> None:
    """CSV, Parquet or prediction-log JSON lines (``{"features": {...}}``), from the file name."""
    with atomic_path(path) as tmp:
        fmt = _format(path, "auto")
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "logs":
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            tmp.write_text(
                "".join(json.dumps({"features": r}, default=str) + "\n" for r in records), encoding="utf-8"
            )
        else:
            frame.to_csv(tmp, index=False, sep=sep)

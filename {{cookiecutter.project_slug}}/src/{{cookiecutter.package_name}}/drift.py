"""Data drift: compare current data with the data the deployed model was trained on.

pyarrow reads the reference (``drift.reference``, the training split; column kinds from
``models/schema.json`` when present) and the current data (``drift.current``: CSV, Parquet or
prediction logs) into seeded samples (``drift_sources``). After our schema checks, Evidently's
``DataDriftPreset`` runs ONCE on the samples (``drift.method``/``threshold``/``columns`` are its
options): that one snapshot gives every number of ``report.html`` and of the summary
(``drift_summary``). Exit codes: 0 no drift, 1 drift (or a schema error such as a missing
column), 2 error.
"""

from __future__ import annotations

import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from .config import DriftMethod, Params
from .drift_sources import Table, read_source
from .drift_summary import ColumnDrift, DriftSummary, Finding, Side
from .errors import UserError
from .features import load_schema, to_numbers
from .paths import SCHEMA_FILE

KNOWN_CATEGORIES_LIMIT = 50  # above: high-cardinality text, whose new values are no news


@dataclass
class Typed:
    """The reference and current columns as Evidently gets them, and what the checks found."""

    reference: pd.DataFrame
    current: pd.DataFrame
    findings: list[Finding]
    decided: list[str]  # columns that a schema error decides (as drifted)


def feature_kinds(
    reference: pd.DataFrame, params: Params, schema_file: Path | None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Column -> numerical|categorical (the model's schema, else the reference's values), and
    the categories seen in training."""
    if schema_file is not None and Path(schema_file).exists():
        schema = load_schema(schema_file)
        kinds = dict.fromkeys(schema.numeric, "numerical")
        kinds |= dict.fromkeys(schema.categorical + schema.high_cardinality, "categorical")
        return {c: kinds[c] for c in reference if c in kinds}, schema.categories
    excluded = (params.data.target, *params.data.drop_columns)
    kinds = {}
    for column in reference:
        values = reference[column]
        if column in excluded or values.isna().all():
            continue
        numeric = to_numbers(values).notna().eq(values.notna()).all()
        kinds[column] = "numerical" if numeric else "categorical"
    return kinds, {}


def _examples(values: pd.Series, count: int = 3) -> str:
    return ", ".join(repr(value) for value in pd.unique(values.dropna())[:count])


def _as_text(values: pd.Series) -> pd.Series:
    return values.map(str, na_action="ignore").astype(object)


def _schema_error(column: str, found: bool, bad: pd.Series, present: int) -> Finding | None:
    """The error that decides ``column`` as drifted: missing, empty, or no longer numbers."""
    name = repr(column)
    if not found:
        message = f"feature column {name} is missing from the current data"
        return Finding("error", "missing_column", message, column)
    if present == 0:
        message = f"column {name} has no values in the current data (all missing)"
        return Finding("error", "all_missing", message, column)
    if len(bad) > present / 2:  # mostly not numbers: the column changed type
        share = (
            f"{len(bad) / present:.0%} of its current values are not numbers "
            f"(e.g. {_examples(bad)})"
        )
        message = f"column {name} was numeric in the reference but {share}"
        return Finding("error", "changed_type", message, column)
    return None


def _unseen_categories(column: str, values: pd.Series, known: set, present: int) -> Finding | None:
    unseen = values.dropna()[~values.dropna().isin(known)]
    if not len(unseen):
        return None
    message = (
        f"column {column!r}: {unseen.nunique()} value(s) not seen in training "
        f"({_examples(unseen, 5)}) in {len(unseen) / present:.1%} of current rows"
    )
    return Finding("warning", "unseen_categories", message, column)


def check_schema(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: dict, categories: dict
) -> Typed:
    """Typed columns for Evidently, findings, and the columns decided by a schema error."""
    typed = Typed(pd.DataFrame(), pd.DataFrame(), [], [])
    for column in current:
        if column not in reference:
            message = f"column {column!r} is in the current data but not in the reference: ignored"
            typed.findings.append(Finding("warning", "extra_column", message, column))
    for column, kind in kinds.items():
        _check_column(typed, column, kind, reference[column], current, categories.get(column))
    return typed


def _check_column(
    typed: Typed,
    column: str,
    kind: str,
    reference: pd.Series,
    current: pd.DataFrame,
    categories: list[str] | None,
) -> None:
    """Adds one column to ``typed``: its typed values, or the schema error that decides it."""
    convert = to_numbers if kind == "numerical" else _as_text
    raw = current.get(column, pd.Series(dtype=object))
    values = convert(raw)
    bad = raw[raw.notna() & values.isna()]
    present = int(raw.notna().sum())
    error = _schema_error(column, column in current, bad, present)
    if error:
        typed.findings.append(error)
        typed.decided.append(column)
        return
    typed.reference[column], typed.current[column] = convert(reference), values
    if len(bad):
        note = (
            f"{len(bad)} value(s) in the current sample are not numbers, ignored "
            f"(e.g. {_examples(bad)})"
        )
        message = f"column {column!r}: {note}"
        typed.findings.append(Finding("warning", "invalid_values", message, column))
        return
    known = set(categories or typed.reference[column].dropna())
    # High-cardinality text (many values, none listed by the schema): new values are no news.
    if kind == "categorical" and (categories or len(known) <= KNOWN_CATEGORIES_LIMIT):
        finding = _unseen_categories(column, values, known, present)
        if finding:
            typed.findings.append(finding)


def _import_evidently_modules() -> Any:
    """Evidently's modules: ``evidently`` (with its presets and tests) and its statistical tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # from Evidently's own imports
        import evidently
        import evidently.presets
        import evidently.tests  # the quality check's thresholds
        from evidently.legacy.calculations import stattests
    return evidently, stattests


def preload_evidently() -> None:
    """Imports Evidently (seconds) in a thread while pyarrow reads; an error shows later."""
    try:
        _import_evidently_modules()
    except ImportError:
        return


def import_evidently() -> Any:
    """Evidently's modules, or an error that says how to install them."""
    try:
        return _import_evidently_modules()
    except ImportError as exc:
        raise UserError(
            f"Evidently is missing ({exc}): pip install -e '.[drift]' (`make setup`)"
        ) from None


def _stat_tests(stattests: Any) -> dict[str, Any]:
    """Evidently's test of each method that drift.method may name (config.DriftMethod)."""
    tests = vars(stattests).values()
    by_name = {test.name: test for test in tests if isinstance(test, stattests.StatTest)}
    return {name: by_name[name] for name in get_args(DriftMethod) if name != "auto"}


def _kinds(test: Any) -> set[str]:
    """The column kinds a test applies to: numerical, categorical."""
    return {column_type.name.lower() for column_type in test.allowed_feature_types}


def _check_methods(columns: list[str], kinds: dict, params: Params, tests: dict) -> dict[str, str]:
    """The per-column methods; a method that does not apply to its column is a params error."""
    settings = params.drift
    methods = {
        column: setting.method
        for column, setting in settings.columns.items()
        if column in columns and setting.method != "auto"
    }
    for column in columns:
        method, kind = methods.get(column, settings.method), kinds[column]
        fits = [name for name, test in tests.items() if kind in _kinds(test)]
        if method not in ("auto", *fits):
            key = f"drift.columns.{column}.method" if column in methods else "drift.method"
            use = f"does not apply to the {kind} column {column!r}; use one of: {', '.join(fits)}"
            raise UserError(f"{key} is {method!r}, which {use}")
    return methods


def _preset(evidently: Any, columns: list[str], methods: dict, params: Params) -> Any:
    settings = params.drift
    thresholds = {
        column: setting.threshold
        for column, setting in settings.columns.items()
        if setting.threshold and column in columns
    }
    return evidently.presets.DataDriftPreset(
        columns,
        method=None if settings.method == "auto" else settings.method,
        threshold=settings.threshold,
        drift_share=settings.drift_share,
        per_column_method=methods,
        per_column_threshold=thresholds,
    )


def _column_results(report: dict, kinds: dict, tests: dict) -> dict[str, ColumnDrift]:
    """Per column, Evidently's score, method and verdict, from the snapshot's dict."""
    by_display_name = {test.display_name: name for name, test in tests.items()}
    failed = {t["metric_config"]["metric_id"] for t in report["tests"] if t["status"] == "FAIL"}
    results = {}
    for metric in report["metrics"]:
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        # A display name when Evidently chose the method.
        method = by_display_name.get(config["method"], config["method"])
        stat = "p_value" if "p_value" in tests[method].display_name else "distance"
        results[config["column"]] = ColumnDrift(
            type=kinds[config["column"]],
            drift=metric["id"] in failed,
            score=float(metric["value"]),
            method=method,
            stat=stat,
            threshold=config["threshold"],
        )
    return results


def run_evidently(
    ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict, params: Params
) -> tuple[Any, dict[str, ColumnDrift]]:
    """ONE DataDriftPreset run: the snapshot and, per column, Evidently's result."""
    evidently, stattests = import_evidently()
    tests, columns = _stat_tests(stattests), list(ref.columns)
    preset = _preset(evidently, columns, _check_methods(columns, kinds, params, tests), params)
    numerical = [c for c in columns if kinds[c] == "numerical"]
    categorical = [c for c in columns if c not in numerical]
    definition = evidently.DataDefinition(
        numerical_columns=numerical, categorical_columns=categorical
    )
    try:
        # numpy's warnings about Evidently's internals: nothing for the user to do.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            current = evidently.Dataset.from_pandas(cur, data_definition=definition)
            reference = evidently.Dataset.from_pandas(ref, data_definition=definition)
            snapshot = evidently.Report([preset], include_tests=True).run(current, reference)
    except Exception as exc:
        message = f"Evidently could not run the drift report: {type(exc).__name__}: {exc}"
        raise UserError(message) from None
    return snapshot, _column_results(snapshot.dict(), kinds, tests)


def check(
    params: Params, current=None, reference=None, schema_file: Path | None = SCHEMA_FILE
) -> tuple[DriftSummary, Any]:
    """The summary and Evidently's snapshot (None when it did not run). A failure is a summary
    with verdict "error"; a bug also prints its traceback (it must not read as drift)."""
    current = Path(current or params.drift.current or params.data.path)
    reference = Path(reference or params.drift.reference)
    threading.Thread(target=preload_evidently, daemon=True).start()
    try:
        return _check(params, current, reference, schema_file)
    except UserError as exc:
        error = str(exc)
    except Exception as exc:
        traceback.print_exc()
        error = f"the drift check failed: {type(exc).__name__}: {exc} (traceback above)"
    sides = (Side(str(reference), 0, 0), Side(str(current), 0, 0))
    return DriftSummary.build(sides, params.drift, {}, [], error), None


def _read_both(
    params: Params, current_path: Path, reference_path: Path
) -> tuple[Table, Table, list[Finding]]:
    settings, sep = params.drift, params.data.sep
    rows = settings.sample_rows
    reference, _ = read_source(reference_path, "auto", sep, rows, settings.seed, "reference")
    if reference.rows == 0:
        raise UserError(f"reference data {reference_path} has no rows: retrain with `make repro`")
    current, findings = read_source(
        current_path, settings.format, sep, rows, settings.seed + 1, "current"
    )
    return reference, current, findings


def _check(
    params: Params, current_path: Path, reference_path: Path, schema_file: Path | None
) -> tuple[DriftSummary, Any]:
    reference, current, findings = _read_both(params, current_path, reference_path)
    kinds, categories = feature_kinds(reference.sample, params, schema_file)
    for column in params.drift.columns:
        if column not in kinds:
            message = f"drift.columns names {column!r}, which is not a checked feature column"
            findings.append(Finding("warning", "unknown_column_setting", message, column))
    sides = (reference.side, current.side)
    if current.rows == 0:
        findings.append(
            Finding("error", "empty", f"current data {current_path} has no rows: nothing to check")
        )
        error = f"current data {current_path} is empty (no rows): is the data source down?"
        return DriftSummary.build(sides, params.drift, {}, findings, error), None
    typed = check_schema(reference.sample, current.sample, kinds, categories)
    snapshot, results = None, {}
    if len(typed.reference.columns):
        snapshot, results = run_evidently(typed.reference, typed.current, kinds, params)
    columns = {}
    for column in kinds:
        if column in results or column in typed.decided:
            result = results.get(column) or ColumnDrift.schema_error(kinds[column])
            columns[column] = _with_counts(
                result, reference.sample[column], current.sample.get(column)
            )
    summary = DriftSummary.build(sides, params.drift, columns, findings + typed.findings)
    return summary, snapshot


def _with_counts(
    result: ColumnDrift, reference: pd.Series, current: pd.Series | None
) -> ColumnDrift:
    current = pd.Series(dtype=object) if current is None else current
    result.reference_rows = int(reference.notna().sum())
    result.current_rows = int(current.notna().sum())
    result.current_missing_share = round(float(current.isna().mean()), 6) if len(current) else None
    return result


def _shift(values: pd.Series, shift: float) -> pd.Series:
    """Numbers move by ``shift`` sd, booleans flip, categories swap frequencies."""
    if pd.api.types.is_bool_dtype(values):
        return ~values.astype(bool)
    if pd.api.types.is_numeric_dtype(values):
        moved = values + shift * (float(values.std()) or 1.0)
        return (
            moved.round().astype(values.dtype) if pd.api.types.is_integer_dtype(values) else moved
        )
    counts = values.value_counts()
    return values.map(dict(zip(counts.index, counts.index[::-1], strict=True)))


def simulate_current(
    reference: pd.DataFrame, drift: bool, seed: int, rows=None, shift=1.0, exclude=()
) -> pd.DataFrame:
    """A "current" batch resampled from the reference. With ``drift``, a seeded 70% of the
    columns (not ``exclude``: the target) move (see ``_shift``)."""
    rng = np.random.default_rng(seed)
    frame = reference.sample(
        rows or len(reference), replace=True, random_state=rng, ignore_index=True
    )
    candidates = [c for c in frame if c not in exclude and frame[c].notna().any()]
    count = min(max(1, int(np.ceil(0.7 * len(candidates)))), len(candidates)) if drift else 0
    for column in rng.choice(candidates, size=count, replace=False).tolist():
        frame[column] = _shift(frame[column], shift)
    return frame

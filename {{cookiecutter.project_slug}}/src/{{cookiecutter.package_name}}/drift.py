"""Data drift: compare current data with the data the deployed model was trained on.

``python -m <package> drift`` (``make drift``) reads

* the **reference**: ``drift.reference`` in params.yaml, by default ``data/processed/train.csv``,
  the training split of the model in this commit (``dvc.lock`` pins its version), with the
  column kinds of ``models/schema.json`` when present;
* the **current** data: ``drift.current`` -- a CSV or Parquet file (a new version of the
  training data, refreshed with ``dvc update`` when it is an ``import-url``), or the model
  server's JSON-lines prediction logs (a file or a folder of ``*.jsonl`` files);

checks the schema, tests every feature column for drift and writes ``reports/drift/``:
``report.html`` (Evidently), ``summary.json`` and ``summary.md``.

Exit codes: 0 no drift; 1 drift (dataset drift, or a schema error such as a missing column);
2 the check could not run (bad params, unreadable or empty data, Evidently missing).

Statistics mirror Evidently's ``DataDriftPreset`` (same default method per column, chosen by
the size of the whole reference, same thresholds and dataset rule: drift when the share of
drifted columns >= ``drift.drift_share``) but run on a seeded uniform sample of at most
``drift.sample_rows`` rows per side, kept in one streaming pass (CSV rows are split on newlines
and only the sampled ones are parsed), so a million rows take seconds and bounded memory.
Evidently renders the HTML report from the first ``drift.report_rows`` rows of that sample, in a
child process started first so that its slow import overlaps reading the data; Evidently is
never imported into this process.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import DriftParams, Params
from .errors import UserError
from .io import atomic_path, write_json, write_text

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SCHEMA_FILE = Path("models/schema.json")
HTML_NAME, JSON_NAME, MD_NAME = "report.html", "summary.json", "summary.md"

# method -> (what the score is, default threshold, column kinds it accepts)
METHODS: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "ks": ("p_value", 0.05, ("numerical",)),
    "chisquare": ("p_value", 0.05, ("categorical", "numerical")),
    "z": ("p_value", 0.05, ("categorical", "numerical")),
    "wasserstein": ("distance", 0.1, ("numerical",)),
    "jensenshannon": ("distance", 0.1, ("categorical", "numerical")),
    "psi": ("distance", 0.1, ("categorical", "numerical")),
}
# A numerical column whose reference has at most this many non-missing values gets a
# statistical test (p-value); above it, a distance (Evidently's rule).
SMALL_REFERENCE = 1000
# Share of non-missing values that fail to parse as numbers for a numerical column to
# count as "changed type" (below it, the bad values are a warning).
CHANGED_TYPE_SHARE = 0.5
# Markdown tables list at most this many columns (summary.json has them all).
MD_MAX_ROWS = 25
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TRUE_FALSE = {"true": 1.0, "false": 0.0}


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Finding:
    severity: str  # "error" (counts as drift) or "warning"
    kind: str  # missing_column, extra_column, changed_type, invalid_values, all_missing, ...
    message: str
    column: str | None = None


@dataclass
class ColumnResult:
    column: str
    kind: str  # numerical | categorical
    method: str  # one of METHODS, or "schema" when a schema error decides the column
    stat: str  # p_value | distance | schema
    threshold: float | None
    score: float | None
    drift: bool
    reference_rows: int = 0
    current_rows: int = 0
    current_missing_share: float | None = None

    @classmethod
    def schema_error(
        cls, column: str, kind: str, reference_rows: int, current_rows: int = 0, missing: float | None = None
    ) -> ColumnResult:
        """A column decided (as drifted) by a schema error rather than by a statistical test."""
        return cls(column, kind, "schema", "schema", None, None, True, reference_rows, current_rows, missing)


@dataclass
class Table:
    """A seeded uniform sample of a data source, plus counts over all of it."""

    source: str
    rows: int  # rows in the whole source
    sample: pd.DataFrame  # at most sample_rows rows, random order (any prefix is uniform too)
    # Non-missing values per column over the whole source (estimated from the sample when the
    # fast CSV path sampled it).
    non_null: dict[str, int] = field(default_factory=dict)


@dataclass
class DriftResult:
    summary: dict[str, Any]
    markdown: str
    exit_code: int


# ---------------------------------------------------------------------------------------------
# Reading: one streaming pass, bottom-k sampling on seeded random keys


class _BottomK:
    """Keep the ``k`` rows with the smallest random keys: a uniform sample without replacement.

    Rows arrive in batches (Arrow record batches, or pandas frames for JSON logs) and stay in
    that form until the end, so only the sample is ever converted to Python objects.
    Deterministic for a given seed and input; memory is bounded by about ``3 * k`` rows plus
    one batch whatever the size of the source.
    """

    def __init__(self, k: int, seed: int):
        self.k = k
        self.rng = np.random.default_rng(seed)
        self.parts: list[Any] = []
        self.keys: list[np.ndarray] = []
        self.kept = 0
        self.cutoff = 1.0

    @staticmethod
    def _take(part: Any, rows: np.ndarray) -> Any:
        if isinstance(part, np.ndarray):
            return part[rows]
        return part.iloc[rows] if isinstance(part, pd.DataFrame) else part.take(rows)

    @staticmethod
    def _concat(parts: list[Any]) -> Any:
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], np.ndarray):
            return np.concatenate(parts)
        if isinstance(parts[0], pd.DataFrame):
            return pd.concat(parts, ignore_index=True)
        import pyarrow as pa

        tables = [pa.Table.from_batches([p]) if isinstance(p, pa.RecordBatch) else p for p in parts]
        return pa.concat_tables(tables).combine_chunks()

    def select(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw keys for ``count`` new rows; return the positions worth keeping and their keys."""
        keys = self.rng.random(count)
        selected = np.flatnonzero(keys < self.cutoff)
        return selected, keys[selected]

    def push(self, part: Any, keys: np.ndarray) -> None:
        if not len(keys):
            return
        self.parts.append(part)
        self.keys.append(keys)
        self.kept += len(keys)
        if self.kept > 2 * self.k:
            self._compact()

    def add(self, part: Any) -> None:
        selected, keys = self.select(len(part))
        self.push(part if len(selected) == len(part) else self._take(part, selected), keys)

    def _compact(self) -> None:
        part = self._concat(self.parts)
        keys = np.concatenate(self.keys)
        if len(keys) > self.k:
            keep = np.argpartition(keys, self.k - 1)[: self.k]
            part, keys = self._take(part, keep), keys[keep]
            self.cutoff = float(keys.max())
        self.parts, self.keys, self.kept = [part], [keys], len(keys)

    def sample(self) -> Any:
        """The kept rows in key order (so any prefix is a uniform sample too); None if none."""
        if not self.parts:
            return None
        self._compact()
        return self._take(self.parts[0], np.argsort(self.keys[0], kind="stable"))

    def result(self, columns: list[str]) -> pd.DataFrame:
        part = self.sample()
        if part is None:
            return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
        if isinstance(part, pd.DataFrame):
            return part.reset_index(drop=True)
        return _arrow_to_frame(part)


def _arrow_to_frame(table: Any) -> pd.DataFrame:
    """Columns that are all numbers become float64 (Arrow's fast cast); the rest stay objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, pd.Series] = {}
    for name, array in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            try:
                array = pc.cast(array, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                columns[name] = pd.Series(array.to_pandas(), dtype=object)
                continue
        if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
            columns[name] = pd.Series(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False))
        else:
            columns[name] = pd.Series(array.to_pandas(), dtype=object)
    return pd.DataFrame(columns)


def _format_of(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    if path.is_dir():
        return "predictions"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(JSONL_SUFFIXES):
        return "predictions"
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    return "csv"


def _check_path(path: Path, role: str) -> None:
    if not path.exists():
        hint = (
            "train first (`make repro`, or `dvc pull` to fetch the outputs of the last training)"
            if role == "reference"
            else f"refresh it (`dvc update`/`dvc pull`, or `python -m {__package__} simulate-current` "
            "for a demo) or fix drift.current in params.yaml"
        )
        raise UserError(f"{role} data {path} does not exist: {hint}")


def _arrow_csv_batches(path: Path, sep: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    if not header.strip():
        return [], []
    columns = [str(c) for c in pd.read_csv(io.StringIO(header), sep=sep, nrows=0).columns]
    types = {column: pa.string() for column in columns}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=4 << 20, use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    return columns, reader


BLOCK_BYTES = 32 << 20
NEWLINE, QUOTE, CR = 10, 34, 13


def _sample_lines(path: Path, k: int, seed: int) -> tuple[bytes, np.ndarray | None, int] | None:
    """Header, a bottom-k sample of the data lines and the line count, without parsing the rest.

    Splits raw bytes on newlines (numpy, memchr speed), so only the sampled lines are parsed.
    Returns None when a quoted field spans lines (odd number of quotes on a line): the caller
    then parses the whole file.
    """
    sampler = _BottomK(k, seed)
    rows = 0
    with open(path, "rb") as handle:
        header = handle.readline()
        if header.count(b'"') % 2:
            return None
        carry = b""
        while True:
            block = handle.read(BLOCK_BYTES)
            data = carry + block
            if not data:
                break
            buffer = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(buffer == NEWLINE)
            if block and not len(ends):
                carry = data
                continue
            if not block:  # the last line has no newline
                ends = np.append(ends, len(data))
            starts = np.concatenate(([0], ends[:-1] + 1))
            carry = data[ends[-1] + 1 :] if block else b""
            if b'"' in data:
                quotes = np.flatnonzero(buffer == QUOTE)
                per_line = np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)
                if np.any(per_line % 2):
                    return None
            lengths = ends - starts
            has_cr = np.zeros(len(ends), dtype=bool)
            has_cr[lengths > 0] = buffer[np.maximum(ends[lengths > 0] - 1, 0)] == CR
            keep = lengths - has_cr > 0  # blank lines are skipped, as pandas does
            starts, ends = starts[keep], ends[keep]
            rows += len(starts)
            selected, keys = sampler.select(len(starts))
            lines = np.empty(len(selected), dtype=object)
            lines[:] = [
                data[a:b] for a, b in zip(starts[selected].tolist(), ends[selected].tolist(), strict=True)
            ]
            sampler.push(lines, keys)
            if not block:
                break
    return header, sampler.sample(), rows


def _parse_lines(header: bytes, lines: np.ndarray | None, sep: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = [str(c) for c in pd.read_csv(io.BytesIO(header), sep=sep, nrows=0).columns]
    types = {column: pa.string() for column in columns}
    payload = (
        header.rstrip(b"\r\n") + b"\n" + (b"\n".join(lines.tolist()) + b"\n" if lines is not None else b"")
    )
    table = pacsv.read_csv(
        io.BytesIO(payload),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    return _arrow_to_frame(table)


def _read_csv(path: Path, sep: str, k: int, seed: int) -> Table:
    if path.stat().st_size == 0:
        return Table(str(path), 0, pd.DataFrame())
    try:
        import pyarrow  # noqa: F401  (the fast path needs it)

        sampled = _sample_lines(path, k, seed)
        if sampled is not None:
            header, lines, rows = sampled
            if not header.strip():
                return Table(str(path), 0, pd.DataFrame())
            sample = _parse_lines(header, lines, sep)
            sample.columns = [str(c).strip() for c in sample.columns]
            scale = rows / len(sample) if len(sample) else 0.0
            non_null = {c: round(int(sample[c].notna().sum()) * scale) for c in sample.columns}
            return Table(str(path), rows, sample, non_null)
    except ImportError:  # pragma: no cover - pyarrow comes with the drift extra
        pass
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV") from None
    except (ValueError, pd.errors.ParserError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a readable CSV: {message}") from None
    return _read_csv_parsed(path, sep, k, seed)


def _read_csv_parsed(path: Path, sep: str, k: int, seed: int) -> Table:
    """Parse every row (quoted fields spanning lines, or no pyarrow); sample while streaming."""
    sampler = _BottomK(k, seed)
    rows = 0
    non_null: dict[str, int] = {}
    try:
        import pyarrow
    except ImportError:
        pyarrow = None
    try:
        if pyarrow is not None:
            columns, reader = _arrow_csv_batches(path, sep)
            for batch in reader:
                rows += batch.num_rows
                for name, array in zip(batch.schema.names, batch.columns, strict=True):
                    non_null[name] = non_null.get(name, 0) + len(array) - array.null_count
                sampler.add(batch)
        else:  # pragma: no cover - pyarrow comes with the drift extra
            columns = []
            for chunk in pd.read_csv(path, sep=sep, dtype=str, chunksize=200_000, keep_default_na=True):
                columns = [str(c) for c in chunk.columns]
                rows += len(chunk)
                for name, count in chunk.notna().sum().items():
                    non_null[str(name)] = non_null.get(str(name), 0) + int(count)
                sampler.add(chunk)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV") from None
    except (ValueError, pd.errors.ParserError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a readable CSV: {message}") from None
    sample = sampler.result(columns)
    sample.columns = [str(c).strip() for c in sample.columns]
    non_null = {str(k).strip(): v for k, v in non_null.items()}
    for column in sample.columns:
        non_null.setdefault(column, 0)
    return Table(str(path), rows, sample, non_null)


def _read_parquet(path: Path, k: int, seed: int) -> Table:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise UserError(f"{path} is not a readable Parquet file: {exc}") from None
    sampler = _BottomK(k, seed)
    rows = 0
    non_null: dict[str, int] = {}
    columns = [str(c) for c in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(batch_size=200_000):
        rows += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            non_null[name] = non_null.get(name, 0) + len(array) - array.null_count
        sampler.add(batch)
    sample = sampler.result(columns)
    for column in sample.columns:
        non_null.setdefault(column, 0)
    return Table(str(path), rows, sample, non_null)


def _log_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.name.lower().removesuffix(".gz").endswith(JSONL_SUFFIXES)
    )
    return files


def _records_of(line_value: Any) -> list[dict]:
    """The feature dicts of one log line.

    Accepted per line: ``{"features": {...}, "prediction": ..., "timestamp": ..., "model_version": ...}``,
    the same with ``"features": [{...}, ...]`` for a batch request, ``{"instances": [...]}``,
    or a plain list of feature dicts ``[{...}, ...]``, or a plain feature dict.
    """
    if isinstance(line_value, list):
        return [item for item in line_value if isinstance(item, dict)]
    if not isinstance(line_value, dict):
        return []
    for key in ("features", "instances", "inputs"):
        if key in line_value:
            inner = line_value[key]
            if isinstance(inner, dict):
                return [inner]
            if isinstance(inner, list):
                return [item for item in inner if isinstance(item, dict)]
            return []
    return [line_value]


def _read_predictions(path: Path, k: int, seed: int) -> tuple[Table, list[Finding]]:
    import gzip

    files = _log_files(path)
    findings: list[Finding] = []
    if not files:
        return Table(str(path), 0, pd.DataFrame()), findings
    sampler = _BottomK(k, seed)
    rows = 0
    bad_lines = 0
    first_bad = ""
    non_null: dict[str, int] = {}
    columns: dict[str, None] = {}
    buffer: list[dict] = []

    def flush() -> None:
        nonlocal buffer
        if buffer:
            frame = pd.DataFrame.from_records(buffer).astype(object)
            for name, count in frame.notna().sum().items():
                non_null[str(name)] = non_null.get(str(name), 0) + int(count)
            sampler.add(frame)
            buffer = []

    for file in files:
        opener = gzip.open if file.name.endswith(".gz") else open
        try:
            with opener(file, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        records = _records_of(json.loads(line))
                    except json.JSONDecodeError:
                        records = []
                    if not records:
                        bad_lines += 1
                        first_bad = first_bad or f"{file}:{number}"
                        continue
                    for record in records:
                        for name in record:
                            columns.setdefault(str(name), None)
                    buffer.extend(records)
                    rows += len(records)
                    if len(buffer) >= 50_000:
                        flush()
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise UserError(f"cannot read prediction log {file}: {exc}") from None
    flush()
    if bad_lines:
        findings.append(
            Finding(
                "warning",
                "unreadable_log_lines",
                f"{bad_lines} log line(s) hold no feature record and were skipped (first: {first_bad})",
            )
        )
    sample = sampler.result(list(columns))
    sample = sample.reindex(columns=list(columns))
    for column in columns:
        non_null.setdefault(column, 0)
    return Table(str(path), rows, sample, non_null), findings


def read_source(path: Path, fmt: str, sep: str, k: int, seed: int, role: str) -> tuple[Table, list[Finding]]:
    _check_path(path, role)
    fmt = _format_of(path, fmt)
    if fmt == "predictions":
        return _read_predictions(path, k, seed)
    if path.is_dir():
        raise UserError(f"{role} data {path} is a folder; set drift.format: predictions for prediction logs")
    if fmt == "parquet":
        return _read_parquet(path, k, seed), []
    return _read_csv(path, sep, k, seed), []


# ---------------------------------------------------------------------------------------------
# Types and schema findings


def _to_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from strings/objects; returns (numbers, mask of non-missing values that are not numbers)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        return numbers, pd.Series(False, index=values.index)
    try:  # fast path: every value parses (C parser), or is missing
        numbers = pd.to_numeric(values, errors="raise").astype("float64")
        return numbers.replace([np.inf, -np.inf], np.nan), pd.Series(False, index=values.index)
    except (ValueError, TypeError):
        pass
    text = values.where(values.isna(), values.astype(str).str.strip())
    lowered = text.str.lower()
    numbers = pd.to_numeric(text.where(~lowered.isin(TRUE_FALSE), lowered.map(TRUE_FALSE)), errors="coerce")
    numbers = numbers.astype("float64").replace([np.inf, -np.inf], np.nan)
    bad = values.notna() & numbers.isna() & ~lowered.isin({"inf", "-inf", "+inf", "infinity", "-infinity"})
    return numbers, bad


def _canonical(value: Any) -> str:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == round(number) and abs(number) < 2**53:
        return str(int(number))
    return repr(number) if math.isfinite(number) else text


def _as_category(values: pd.Series) -> pd.Series:
    """One spelling per value ("1.0", 1 and "1" are one category), computed once per distinct value."""
    uniques = pd.unique(values.dropna())
    mapping = {value: _canonical(value) for value in uniques}
    return values.map(mapping).astype(object).where(values.notna(), None)


def _all_numbers(values: pd.Series) -> bool:
    """Whether every distinct non-missing value reads as a number."""
    for value in pd.unique(values.dropna()):
        try:
            float(str(value).strip())
        except ValueError:
            return False
    return True


@dataclass
class Features:
    kinds: dict[str, str]  # column -> numerical | categorical, in reference order
    categories: dict[str, list[str]]
    ignored: list[str]  # target, dropped and identifier-like columns: never checked


def _load_schema(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc}); retrain with `make repro`") from None


def feature_kinds(reference: Table, params: Params, schema: dict | None) -> Features:
    """The columns to check and their kinds, from the model's schema or else from the reference."""
    columns = list(reference.sample.columns)
    if schema:
        numeric = [c for c in schema.get("numeric", []) if c in columns]
        categorical = [
            c for c in schema.get("categorical", []) + schema.get("high_cardinality", []) if c in columns
        ]
        kinds = {
            c: ("numerical" if c in numeric else "categorical") for c in columns if c in numeric + categorical
        }
        categories = {c: [str(v) for v in values] for c, values in schema.get("categories", {}).items()}
        ignored = [c for c in columns if c not in kinds]
        return Features(
            kinds, {c: _as_category(pd.Series(v)).tolist() for c, v in categories.items()}, ignored
        )
    ignored = [c for c in columns if c == params.data.target or c in params.data.drop_columns]
    kinds: dict[str, str] = {}
    for column in columns:
        if column in ignored:
            continue
        values = reference.sample[column]
        if values.notna().sum() == 0:
            ignored.append(column)
            continue
        numeric = pd.api.types.is_numeric_dtype(values) or _all_numbers(values)
        kinds[column] = "numerical" if numeric else "categorical"
    return Features(kinds, {}, ignored)


def _example(values: pd.Series, limit: int = 3) -> str:
    shown = [repr(v) for v in pd.unique(values.dropna())[:limit]]
    return ", ".join(shown)


def prepare_columns(
    reference: Table, current: Table, features: Features
) -> tuple[dict[str, pd.Series], dict[str, pd.Series], list[Finding], dict[str, ColumnResult]]:
    """Typed reference/current values per column, schema findings, and columns decided by them."""
    findings: list[Finding] = []
    decided: dict[str, ColumnResult] = {}
    ref_values: dict[str, pd.Series] = {}
    cur_values: dict[str, pd.Series] = {}
    current_columns = list(current.sample.columns)
    extra = [c for c in current_columns if c not in features.kinds and c not in features.ignored]
    for column in extra:
        findings.append(
            Finding(
                "warning",
                "extra_column",
                f"column {column!r} is in the current data but not in the reference: ignored",
                column,
            )
        )
    for column, kind in features.kinds.items():
        ref = reference.sample[column]
        ref = _to_number(ref)[0] if kind == "numerical" else _as_category(ref)
        ref_values[column] = ref.dropna()
        if column not in current_columns:
            findings.append(
                Finding(
                    "error",
                    "missing_column",
                    f"feature column {column!r} is missing from the current data",
                    column,
                )
            )
            decided[column] = ColumnResult.schema_error(column, kind, int(ref.notna().sum()))
            continue
        raw = current.sample[column]
        present = int(raw.notna().sum())
        missing_share = 1 - present / len(raw) if len(raw) else None
        if current.non_null.get(column, present) == 0:
            findings.append(
                Finding(
                    "error",
                    "all_missing",
                    f"column {column!r} has no values in the current data (all missing)",
                    column,
                )
            )
            decided[column] = ColumnResult.schema_error(column, kind, int(ref.notna().sum()), 0, 1.0)
            continue
        if kind == "numerical":
            numbers, bad = _to_number(raw)
            share_bad = bad.sum() / max(present, 1)
            if share_bad > CHANGED_TYPE_SHARE:
                findings.append(
                    Finding(
                        "error",
                        "changed_type",
                        f"column {column!r} was numeric in the reference but {share_bad:.0%} of its current "
                        f"values are not numbers (e.g. {_example(raw[bad])})",
                        column,
                    )
                )
                decided[column] = ColumnResult.schema_error(
                    column, kind, int(ref.notna().sum()), present, missing_share
                )
                continue
            if share_bad > 0:
                findings.append(
                    Finding(
                        "warning",
                        "invalid_values",
                        f"column {column!r}: {int(bad.sum())} current value(s) in the sample are not numbers "
                        f"(e.g. {_example(raw[bad])}); they are treated as missing",
                        column,
                    )
                )
            values = numbers
        else:
            values = _as_category(raw)
            known = set(features.categories.get(column) or ref_values[column].unique().tolist())
            ref_numeric = _all_numbers(ref_values[column])
            cur_numeric = _all_numbers(values)
            if not ref_numeric and cur_numeric and not (set(values.dropna().unique()) & known):
                findings.append(
                    Finding(
                        "error",
                        "changed_type",
                        f"column {column!r} was text in the reference but every current value is a number "
                        f"(e.g. {_example(values)})",
                        column,
                    )
                )
                decided[column] = ColumnResult.schema_error(
                    column, kind, int(ref.notna().sum()), present, missing_share
                )
                continue
            unseen = values.dropna()[~values.dropna().isin(known)]
            # High-cardinality columns always meet new values: report unseen ones for true categories.
            if len(unseen) and (column in features.categories or len(known) <= 50):
                share = len(unseen) / max(present, 1)
                findings.append(
                    Finding(
                        "warning",
                        "unseen_categories",
                        f"column {column!r}: {unseen.nunique()} value(s) not seen in training "
                        f"({_example(unseen, 5)}) in {share:.1%} of current rows",
                        column,
                    )
                )
        cur_values[column] = values.dropna()
        if cur_values[column].empty:
            findings.append(
                Finding(
                    "error",
                    "all_missing",
                    f"column {column!r} has no usable values in the current data",
                    column,
                )
            )
            reference_rows = int(ref.notna().sum())
            decided[column] = ColumnResult.schema_error(column, kind, reference_rows, 0, missing_share)
            del cur_values[column]
    return ref_values, cur_values, findings, decided


# ---------------------------------------------------------------------------------------------
# Statistics (the definitions of Evidently's stattests, on numpy)


def default_method(ref: pd.Series, cur: pd.Series, kind: str, reference_rows: int) -> str:
    """Evidently's default: tests for small references, distances for large ones."""
    head = pd.concat([ref.iloc[:1000], cur.iloc[:1000]], ignore_index=True)
    n_values = head.nunique()  # only compared with 2 and 5: a prefix settles most columns
    if n_values <= 5:
        n_values = pd.concat([ref, cur], ignore_index=True).nunique()
    if reference_rows <= SMALL_REFERENCE:
        if kind == "numerical" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numerical" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def _shares(ref: pd.Series, cur: pd.Series, kind: str, fill_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    if kind == "numerical" and ref.nunique() > 20:
        combined = np.concatenate([ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)])
        bins = np.histogram_bin_edges(combined, bins="sturges")
        ref_p = np.histogram(ref.to_numpy(dtype=float), bins)[0] / len(ref)
        cur_p = np.histogram(cur.to_numpy(dtype=float), bins)[0] / len(cur)
    else:
        ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
        keys = ref_counts.index.union(cur_counts.index)
        ref_p = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=float) / len(ref)
        cur_p = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=float) / len(cur)
    if fill_zeroes:
        for shares in (ref_p, cur_p):
            smallest = shares[shares != 0].min()
            shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return ref_p, cur_p


def _wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    """First Wasserstein distance of two samples: the area between their empirical CDFs."""
    values = np.concatenate([u, v])
    order = np.argsort(values, kind="stable")
    from_u = order < len(u)
    cdf_u = np.cumsum(from_u)[:-1] / len(u)
    cdf_v = np.cumsum(~from_u)[:-1] / len(v)
    return float(np.sum(np.abs(cdf_u - cdf_v) * np.diff(values[order])))


def column_score(ref: pd.Series, cur: pd.Series, kind: str, method: str) -> float:
    """The score of Evidently's stattest ``method`` (same definitions; scipy.stats only for K-S)."""
    from scipy import special

    if method == "ks":
        from scipy import stats

        return float(stats.ks_2samp(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))[1])
    if method == "wasserstein":
        ref_a = ref.to_numpy(dtype=float)
        norm = max(float(np.std(ref_a)), 0.001)
        return _wasserstein(ref_a, cur.to_numpy(dtype=float)) / norm
    if method == "chisquare":
        ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
        keys = ref_counts.index.union(cur_counts.index)
        expected = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=float) * len(cur) / len(ref)
        observed = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
        if np.any(expected == 0):  # a value never seen in the reference: certain change
            return 0.0
        if len(keys) < 2:
            return 1.0
        statistic = float(np.sum((observed - expected) ** 2 / expected))
        return float(special.chdtrc(len(keys) - 1, statistic))
    if method == "z":
        values = pd.concat([ref, cur], ignore_index=True).dropna().unique()
        if len(values) == 1:
            return 1.0
        first = sorted(values, key=lambda v: (str(type(v)), v))[0]
        n1, n2 = len(ref), len(cur)
        p1, p2 = float((ref != first).mean()), float((cur != first).mean())
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        denominator = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if denominator == 0:
            return 1.0 if p1 == p2 else 0.0
        return float(2 * (1 - special.ndtr(abs((p1 - p2) / denominator))))
    if method == "jensenshannon":
        ref_p, cur_p = _shares(ref, cur, kind, fill_zeroes=False)
        ref_p, cur_p = ref_p / ref_p.sum(), cur_p / cur_p.sum()
        middle = (ref_p + cur_p) / 2
        divergence = (special.rel_entr(ref_p, middle).sum() + special.rel_entr(cur_p, middle).sum()) / 2
        return float(np.sqrt(max(divergence, 0.0)))
    if method == "psi":
        ref_p, cur_p = _shares(ref, cur, kind, fill_zeroes=True)
        return float(np.sum((ref_p - cur_p) * np.log(ref_p / cur_p)))
    raise UserError(f"unknown drift method {method!r}; use one of: auto, {', '.join(METHODS)}")


def is_drift(method: str, score: float, threshold: float) -> bool:
    if math.isnan(score):
        return False
    if method == "ks":
        return score <= threshold
    if METHODS[method][0] == "p_value":
        return score < threshold
    return score >= threshold


def column_settings(column: str, kind: str, params: DriftParams) -> tuple[str, float | None]:
    own = params.columns.get(column)
    method = own.method if own and own.method != "auto" else params.method
    threshold = own.threshold if own and own.threshold is not None else params.threshold
    if method != "auto" and kind not in METHODS[method][2]:
        source = f"drift.columns.{column}.method" if own and own.method != "auto" else "drift.method"
        raise UserError(
            f"{source} is {method!r}, which does not apply to the {kind} column {column!r}; "
            f"use one of: {', '.join(m for m, spec in METHODS.items() if kind in spec[2])}"
        )
    return method, threshold


def plan_columns(
    ref_values: dict[str, pd.Series],
    cur_values: dict[str, pd.Series],
    features: Features,
    reference: Table,
    params: DriftParams,
) -> dict[str, tuple[str, float]]:
    """Method and threshold of every testable column (cheap: the HTML can start before scoring)."""
    plan: dict[str, tuple[str, float]] = {}
    for column, cur in cur_values.items():
        kind = features.kinds[column]
        ref = ref_values[column]
        method, threshold = column_settings(column, kind, params)
        if method == "auto":
            method = default_method(ref, cur, kind, reference.non_null.get(column, len(ref)))
        plan[column] = (method, METHODS[method][1] if threshold is None else threshold)
    return plan


def test_columns(
    ref_values: dict[str, pd.Series],
    cur_values: dict[str, pd.Series],
    features: Features,
    reference: Table,
    current: Table,
    plan: dict[str, tuple[str, float]],
) -> dict[str, ColumnResult]:
    results: dict[str, ColumnResult] = {}
    for column, (method, threshold) in plan.items():
        kind = features.kinds[column]
        ref, cur = ref_values[column], cur_values[column]
        score = column_score(ref, cur, kind, method)
        results[column] = ColumnResult(
            column=column,
            kind=kind,
            method=method,
            stat=METHODS[method][0],
            threshold=threshold,
            score=score,
            drift=is_drift(method, score, threshold),
            reference_rows=int(reference.non_null.get(column, len(ref))),
            current_rows=int(current.non_null.get(column, len(cur))),
            current_missing_share=(1 - current.non_null.get(column, 0) / current.rows)
            if current.rows
            else None,
        )
    return results


# ---------------------------------------------------------------------------------------------
# The Evidently HTML report (lazy import)


class HtmlWorker:
    """Evidently in a child process, started first: its import (seconds) overlaps reading the data.

    The parent sends one job (the report sample as pickles, methods, thresholds) on stdin and
    goes on scoring the columns while the child renders ``report.html``. Evidently is never
    imported into the parent process.
    """

    def __init__(self, enabled: bool):
        self.process: subprocess.Popen | None = None
        self.folder: tempfile.TemporaryDirectory | None = None
        if not enabled:
            return
        self.folder = tempfile.TemporaryDirectory(prefix="drift-html-")
        self.stderr = open(Path(self.folder.name) / "stderr.txt", "w+", encoding="utf-8")  # noqa: SIM115
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"import {__name__} as drift; drift.html_worker()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            text=True,
            env=env,
        )

    def start(self, job: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(job))
            self.process.stdin.close()
        except BrokenPipeError:  # the child already failed: wait() reports why
            pass

    def wait(self, timeout: float = 900) -> None:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        if code != 0:
            self.stderr.seek(0)
            lines = [line for line in self.stderr.read().splitlines() if line.strip()]
            raise RuntimeError(lines[-1] if lines else f"exit code {code}")

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdin is not None:  # still open when no job was sent (an early error)
                self.process.stdin.close()
            self.stderr.close()
        if self.folder is not None:
            self.folder.cleanup()


def html_worker() -> None:
    """The child's side of HtmlWorker (``python -c``): import Evidently, wait for the job, render."""
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        sys.stdin.read()
        print(
            f"Evidently is not installed ({exc}): pip install -e '.[drift]' (or `make setup`)",
            file=sys.stderr,
        )
        sys.exit(3)
    job = json.loads(sys.stdin.read())
    reference = pd.read_pickle(job["reference"])
    current = pd.read_pickle(job["current"])
    definition = DataDefinition(numerical_columns=job["numerical"], categorical_columns=job["categorical"])
    preset = DataDriftPreset(
        columns=job["columns"],
        drift_share=job["drift_share"],
        per_column_method=job["methods"],
        per_column_threshold=job["thresholds"],
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    with atomic_path(job["html"]) as tmp:
        snapshot.save_html(str(tmp))
        # Say on the page how its numbers were obtained (they come from a sample on large data).
        page = tmp.read_text(encoding="utf-8")
        note = (
            '<div style="font-family:sans-serif;font-size:14px;padding:8px 16px;background:#fff8e1">'
            f"{escape(job['note'])}</div>"
        )
        at = page.find(">", page.find("<body")) + 1 if "<body" in page else 0
        tmp.write_text(page[:at] + note + page[at:], encoding="utf-8")


def start_html(
    worker: HtmlWorker,
    path: Path,
    plan: dict[str, tuple[str, float]],
    features: Features,
    params: DriftParams,
    reference: Table,
    current: Table,
) -> int:
    """Send Evidently the first ``report_rows`` sampled rows; returns the rows used per side."""
    assert worker.folder is not None
    columns = list(plan)
    rows = params.report_rows
    ref = reference.sample[columns].iloc[:rows].copy()
    cur = current.sample[columns].iloc[:rows].copy()
    numerical, categorical = [], []
    for column, (method, _) in plan.items():
        # Evidently runs chi-square and z-tests on categorical columns only.
        if features.kinds[column] == "categorical" or method in ("chisquare", "z"):
            categorical.append(column)
            ref[column] = _as_category(ref[column])
            cur[column] = _as_category(cur[column])
        else:
            numerical.append(column)
            ref[column] = _to_number(ref[column])[0]
            cur[column] = _to_number(cur[column])[0]
    report_rows = min(rows, max(len(reference.sample), len(current.sample)))
    note = (
        "Data drift report of `make drift`; the verdicts are in summary.json next to this file. "
        + _sampling_description(params, reference, current, report_rows)
    )
    folder = Path(worker.folder.name)
    ref.to_pickle(folder / "reference.pkl")
    cur.to_pickle(folder / "current.pkl")
    worker.start(
        {
            "reference": str(folder / "reference.pkl"),
            "current": str(folder / "current.pkl"),
            "html": str(path.resolve()),
            "columns": columns,
            "numerical": numerical,
            "categorical": categorical,
            "methods": {column: method for column, (method, _) in plan.items()},
            "thresholds": {column: float(threshold) for column, (_, threshold) in plan.items()},
            "drift_share": params.drift_share,
            "note": note,
        }
    )
    return report_rows


# ---------------------------------------------------------------------------------------------
# Summary


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 0.001 or abs(value) >= 1000):
        return f"{value:.2e}"
    return f"{value:.3f}"


def to_markdown(summary: dict[str, Any]) -> str:
    verdict = {
        "drift": "**drift detected**",
        "no_drift": "no drift",
        "error": "**could not run**",
    }[summary["verdict"]]
    lines = [f"### Data drift check: {verdict}", ""]
    ref, cur = summary["reference"], summary["current"]
    if summary.get("error"):
        lines += [f"Error: {summary['error']}", ""]
    lines += [
        f"- Reference: `{ref['source']}` ({ref['rows']:,} rows)",
        f"- Current: `{cur['source']}` ({cur['rows']:,} rows)",
    ]
    if summary["columns_checked"]:
        lines.append(
            f"- Drifted columns: {summary['drifted_columns']} of {summary['columns_checked']} "
            f"({summary['drifted_share']:.1%}); dataset drift when at least "
            f"{summary['drift_share_threshold']:.0%}: "
            f"**{'yes' if summary['dataset_drift'] else 'no'}**"
        )
    errors = [f for f in summary["schema"]["findings"] if f["severity"] == "error"]
    warnings = [f for f in summary["schema"]["findings"] if f["severity"] == "warning"]
    if errors or warnings:
        lines += ["", "**Schema findings**", ""]
        lines += [f"- error ({f['kind']}): {f['message']}" for f in errors]
        lines += [f"- warning ({f['kind']}): {f['message']}" for f in warnings]
    columns = sorted(
        summary["columns"].items(),
        key=lambda item: (not item[1]["drift"], item[0]),
    )
    if columns:
        lines += ["", "| column | type | method | score | threshold | drift |", "|---|---|---|---:|---:|---|"]
        for name, col in columns[:MD_MAX_ROWS]:
            lines.append(
                f"| {name} | {col['type']} | {col['method']} | {_fmt(col['score'])} | "
                f"{_fmt(col['threshold'])} | {'**yes**' if col['drift'] else 'no'} |"
            )
        if len(columns) > MD_MAX_ROWS:
            lines.append(f"\n{len(columns) - MD_MAX_ROWS} more column(s) without drift in `summary.json`.")
    sampling = summary.get("sampling", {})
    if sampling:
        lines += ["", f"_{sampling['description']}_"]
    return "\n".join(lines) + "\n"


def _sampling_description(
    params: DriftParams, reference: Table, current: Table, report_rows: int | None
) -> str:
    sampled = reference.rows > params.sample_rows or current.rows > params.sample_rows
    if sampled:
        text = (
            f"Statistics on a seeded uniform sample of at most {params.sample_rows:,} rows per side "
            f"(seed {params.seed}; one streaming pass, bottom-k on random keys), "
            "with Evidently's drift methods (per column in summary.json)"
        )
    else:
        text = "Statistics on all rows, with Evidently's drift methods (per column in summary.json)"
    if report_rows is not None:
        text += f"; HTML report by Evidently on {report_rows:,} rows per side" + (
            " (the first rows of the same sample)" if report_rows < max(reference.rows, current.rows) else ""
        )
    return text + "."


def build_summary(
    reference: Table,
    current: Table,
    results: dict[str, ColumnResult],
    findings: list[Finding],
    params: DriftParams,
    report_rows: int | None,
    error: str | None = None,
) -> dict[str, Any]:
    checked = len(results)
    drifted = sum(r.drift for r in results.values())
    share = drifted / checked if checked else 0.0
    dataset_drift = bool(checked and share >= params.drift_share)
    schema_errors = [f for f in findings if f.severity == "error"]
    if error:
        verdict, code = "error", EXIT_ERROR
    elif dataset_drift or schema_errors:
        verdict, code = "drift", EXIT_DRIFT
    else:
        verdict, code = "no_drift", EXIT_OK
    return {
        "verdict": verdict,
        "exit_code": code,
        "error": error,
        "dataset_drift": dataset_drift,
        "drifted_share": round(share, 6),
        "drifted_columns": drifted,
        "columns_checked": checked,
        "drift_share_threshold": params.drift_share,
        "columns": {
            name: {
                "drift": r.drift,
                "score": None if r.score is None or math.isnan(r.score) else float(f"{r.score:.6g}"),
                "method": r.method,
                "stat": r.stat,
                "threshold": r.threshold,
                "type": r.kind,
                "reference_rows": r.reference_rows,
                "current_rows": r.current_rows,
                "current_missing_share": None
                if r.current_missing_share is None
                else round(r.current_missing_share, 6),
            }
            for name, r in results.items()
        },
        "schema": {"ok": not schema_errors, "findings": [asdict(f) for f in findings]},
        "reference": {
            "source": reference.source,
            "rows": reference.rows,
            "sampled_rows": len(reference.sample),
        },
        "current": {"source": current.source, "rows": current.rows, "sampled_rows": len(current.sample)},
        "sampling": {
            "sample_rows": params.sample_rows,
            "report_rows": report_rows,
            "seed": params.seed,
            "description": _sampling_description(params, reference, current, report_rows),
        },
    }


# ---------------------------------------------------------------------------------------------
# The command


def run_drift(
    params: Params,
    current: Path | None = None,
    reference: Path | None = None,
    out_dir: Path | None = None,
    schema_file: Path | None = SCHEMA_FILE,
    html: bool = True,
) -> DriftResult:
    """Run the drift check and write ``summary.json``, ``summary.md`` (and ``report.html``)."""
    settings = params.drift
    out_dir = Path(out_dir or settings.output_dir)
    current_path = Path(current or settings.current or params.data.path)
    reference_path = Path(reference or settings.reference)
    worker = HtmlWorker(html)
    try:
        return _run(params, current_path, reference_path, out_dir, schema_file, worker)
    finally:
        worker.close()


def _run(
    params: Params,
    current_path: Path,
    reference_path: Path,
    out_dir: Path,
    schema_file: Path | None,
    worker: HtmlWorker,
) -> DriftResult:
    settings = params.drift
    schema = _load_schema(Path(schema_file)) if schema_file else None
    reference_table, _ = read_source(
        reference_path, "auto", params.data.sep, settings.sample_rows, settings.seed, "reference"
    )
    if reference_table.rows == 0:
        raise UserError(f"reference data {reference_path} has no rows: retrain with `make repro`")
    features = feature_kinds(reference_table, params, schema)
    unknown = sorted(set(settings.columns) - set(features.kinds))
    findings: list[Finding] = []
    for column in unknown:
        findings.append(
            Finding(
                "warning",
                "unknown_column_setting",
                f"drift.columns names {column!r}, which is not a checked feature column",
                column,
            )
        )
    current_table, read_findings = read_source(
        current_path, settings.format, params.data.sep, settings.sample_rows, settings.seed + 1, "current"
    )
    findings += read_findings
    if current_table.rows == 0:
        findings.append(
            Finding("error", "empty", f"current data {current_path} has no rows: nothing to compare")
        )
        summary = build_summary(
            reference_table,
            current_table,
            {},
            findings,
            settings,
            None,
            error=f"current data {current_path} is empty (no rows): is the data source down?",
        )
        return _publish(out_dir, summary, None)
    ref_values, cur_values, schema_findings, decided = prepare_columns(
        reference_table, current_table, features
    )
    findings += schema_findings
    plan = plan_columns(ref_values, cur_values, features, reference_table, settings)
    html_path = out_dir / HTML_NAME
    report_rows = None
    if worker.process is not None and plan:
        report_rows = start_html(worker, html_path, plan, features, settings, reference_table, current_table)
    tested = test_columns(ref_values, cur_values, features, reference_table, current_table, plan)
    results = {c: decided.get(c) or tested[c] for c in features.kinds if c in decided or c in tested}
    error = None
    if report_rows is not None:
        try:
            worker.wait()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            # Keep the verdict in summary.json, and say why the HTML is missing.
            error, report_rows = f"the Evidently HTML report failed: {exc}", None
    summary = build_summary(reference_table, current_table, results, findings, settings, report_rows, error)
    return _publish(out_dir, summary, html_path if report_rows else None)


def _publish(out_dir: Path, summary: dict[str, Any], html_path: Path | None) -> DriftResult:
    markdown = to_markdown(summary)
    if html_path is None:
        (out_dir / HTML_NAME).unlink(missing_ok=True)
    else:
        summary["report"] = str(html_path)
    write_json(out_dir / JSON_NAME, summary)
    write_text(out_dir / MD_NAME, markdown)
    return DriftResult(summary, markdown, summary["exit_code"])


def error_summary(out_dir: Path, message: str, current: str = "", reference: str = "") -> None:
    """Record a check that could not run, so the workflow's job summary and artifact say why."""
    summary = {
        "verdict": "error",
        "exit_code": EXIT_ERROR,
        "error": message,
        "dataset_drift": False,
        "drifted_share": 0.0,
        "drifted_columns": 0,
        "columns_checked": 0,
        "drift_share_threshold": None,
        "columns": {},
        "schema": {"ok": False, "findings": []},
        "reference": {"source": reference, "rows": 0, "sampled_rows": 0},
        "current": {"source": current, "rows": 0, "sampled_rows": 0},
    }
    (out_dir / HTML_NAME).unlink(missing_ok=True)
    write_json(out_dir / JSON_NAME, summary)
    write_text(out_dir / MD_NAME, to_markdown(summary))


# ---------------------------------------------------------------------------------------------
# Demo data


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

    Without drift, rows are drawn with replacement from the reference: the same distribution.
    With drift, a seeded ``share`` of the numeric columns move by ``shift`` standard deviations
    and text columns swap the frequencies of their categories. Columns in ``exclude`` (the
    target) are only resampled.
    """
    rng = np.random.default_rng(seed)
    rows = rows or len(reference)
    frame = reference.iloc[rng.integers(0, len(reference), size=rows)].reset_index(drop=True)
    if not drift:
        return frame
    candidates = [c for c in frame.columns if c not in exclude and frame[c].notna().any()]
    count = max(1, math.ceil(share * len(candidates)))
    chosen = set(rng.choice(candidates, size=min(count, len(candidates)), replace=False).tolist())
    for column in frame.columns:
        if column not in chosen:
            continue
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            frame[column] = ~values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values):
            std = float(values.std()) or 1.0
            moved = values + shift * std
            if pd.api.types.is_integer_dtype(values):
                moved = moved.round().astype(values.dtype)
            frame[column] = moved
        else:
            counts = values.value_counts()
            if len(counts) >= 2:
                mapping = dict(zip(counts.index, counts.index[::-1], strict=True))
                frame[column] = values.map(mapping).where(values.notna(), values)
    return frame


def write_frame(frame: pd.DataFrame, path: Path, sep: str = ",") -> None:
    name = path.name.lower()
    with atomic_path(path) as tmp:
        if name.endswith((".parquet", ".pq")):
            frame.to_parquet(tmp, index=False)
        elif name.endswith(JSONL_SUFFIXES):
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            with open(tmp, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps({"features": record}, default=str) + "\n")
        else:
            frame.to_csv(tmp, index=False, sep=sep)


# ---------------------------------------------------------------------------------------------
# The retraining pull request


def retrain_pull_request(
    params: Params,
    base: str = "HEAD",
    base_name: str = "main",
    run_url: str | None = None,
    summary_file: Path | None = None,
) -> tuple[str, str]:
    """Title and body of the retraining pull request, after `dvc repro` on the drifted data.

    The body holds the drift summary, a link to the run (HTML report artifact) and the model
    report of ``compare`` (metrics, params, data and plots against ``base``). The title says
    plainly when the retrained model is worse than ``base`` on ``evaluate.primary_metric``.
    """
    from . import compare

    primary = params.evaluate.primary_metric
    summary_file = Path(summary_file or params.drift.output_dir / MD_NAME)
    drift_md = summary_file.read_text(encoding="utf-8") if summary_file.is_file() else ""
    verdict, line = "unknown", f"no `{primary}` to compare"
    try:
        sha = compare.resolve_rev(base)
        before = compare.parse_metrics(compare.git_show(sha, compare.METRICS_FILE))
        after = compare.parse_metrics(compare.read_tree(compare.METRICS_FILE))
        row = next((r for r in compare.compare_metrics(before, after, primary) if r.primary), None)
        if row is not None and row.base is not None and row.new is not None:
            verdict = row.verdict
            line = f"{primary} {compare.fmt(row.base)} → {compare.fmt(row.new)}"
        report = compare.build_report(base, base_name)
    except UserError as exc:
        report = f"_The metrics could not be compared with `{base_name}`: {exc}_\n"
    if verdict == "worse":
        title = f"Retrain on drifted data: WORSE than {base_name} on {primary} ({line})"
    elif verdict in ("better", "unchanged"):
        title = f"Retrain on drifted data: {line} ({verdict} than {base_name})".replace(
            "(unchanged than", "(unchanged vs"
        )
    else:
        title = f"Retrain on drifted data ({line})"
    lines = [
        "## Retraining after data drift",
        "",
        "The scheduled drift check found drift in the current data. This pull request retrains the "
        "model on the refreshed data (`dvc repro`): the new data version (`.dvc`), `dvc.lock`, "
        "metrics and plots. The new data and model are in the DVC remote when one is configured.",
        "",
    ]
    if verdict == "worse":
        lines += [
            "> [!WARNING]",
            f"> **The retrained model is worse than `{base_name}` on the primary metric**: {line}.",
            "> It is proposed anyway so that people decide: merge it, change it, or close it.",
            "",
        ]
    if run_url:
        lines += [f"Drift report (HTML, artifact `drift-report`) and logs: {run_url}", ""]
    lines += [drift_md.strip(), "", report.strip(), ""]
    return title, "\n".join(lines)

"""The two sides of a drift check, read with pyarrow in one pass each into a seeded uniform
sample: a CSV, a Parquet file, or the model server's prediction logs (JSON lines; a file or a
folder of them, gzipped or not)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .drift_summary import Finding, Side
from .errors import UserError
from .io import file_format
from .prediction_logs import local_files

HINTS = {
    "reference": (
        "train first (`make repro`, or `dvc pull` to fetch the outputs of the last training)"
    ),
    "current": (
        "refresh it (`dvc update`/`dvc pull`, or `python -m {package} simulate-current` for a "
        "demo) or fix drift.current in params.yaml"
    ),
}
LOG_KEYS = ("features", "instances", "inputs")  # where a log line may hold its records


@dataclass
class Table:
    source: str
    rows: int  # rows in the whole source
    sample: pd.DataFrame  # a seeded uniform sample of at most sample_rows of them

    @property
    def side(self) -> Side:
        return Side(self.source, self.rows, len(self.sample))


class Reservoir:
    """The ``k`` rows with the smallest seeded random keys seen so far: a uniform sample."""

    def __init__(self, k: int, seed: int) -> None:
        self.k = k
        self.rng = np.random.default_rng(seed)
        self.tables: list[pa.Table] = []
        self.keys: list[np.ndarray] = []
        self.rows = 0
        self.cutoff = 1.0  # a later row needs a key below the k-th smallest so far

    def add(self, batch: pa.RecordBatch) -> None:
        draw = self.rng.random(batch.num_rows)
        self.rows += batch.num_rows
        chosen = np.flatnonzero(draw < self.cutoff)
        self.tables.append(pa.Table.from_batches([batch]).take(chosen))
        self.keys.append(draw[chosen])
        if sum(map(len, self.keys)) > 2 * self.k:
            table, keys = self._smallest()
            self.tables, self.keys = [table], [keys]
            self.cutoff = float(keys.max())

    def _smallest(self) -> tuple[pa.Table, np.ndarray]:
        table = pa.concat_tables(self.tables, promote_options="default")
        keys = np.concatenate(self.keys)
        best = np.argsort(keys, kind="stable")[: self.k]
        return table.take(best), keys[best]

    def to_pandas(self) -> pd.DataFrame:
        if not self.tables:
            return pd.DataFrame()
        table, _ = self._smallest()
        # Text columns that are all numbers become numbers (Arrow's fast cast).
        for i, column in enumerate(table.columns):
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = table.set_column(i, table.field(i).name, column.cast(pa.float64()))
        return table.to_pandas()


def _sample(batches: Iterable[pa.RecordBatch], k: int, seed: int) -> tuple[pd.DataFrame, int]:
    """A seeded uniform sample of at most ``k`` rows, and the number of rows read."""
    reservoir = Reservoir(k, seed)
    for batch in batches:
        reservoir.add(batch)
    return reservoir.to_pandas(), reservoir.rows


def _records(line: str) -> list[dict[str, str]]:
    """The feature records of a log line, values as text: ``{"features": ...}``, ``instances``,
    ``inputs``, a list of records or one record (none if the line is not JSON)."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return []
    if isinstance(value, dict):
        value = next((value[key] for key in LOG_KEYS if key in value), value)
    items = value if isinstance(value, list) else [value]
    return [
        {key: str(v) for key, v in item.items() if v is not None}
        for item in items
        if isinstance(item, dict)
    ]


def _file_records(file: Path, unreadable: list[str]) -> Iterator[dict[str, str]]:
    """The records of one log file; the lines that hold none go to ``unreadable``."""
    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                records = _records(line)
                if not records and line.strip():
                    unreadable.append(f"{file}:{number}")
                yield from records
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"cannot read prediction log {file}: {exc}") from None


def _log_records(path: Path, findings: list[Finding]) -> Iterator[dict[str, str]]:
    """The records of the prediction logs at ``path``: a file or a folder of them."""
    unreadable: list[str] = []
    for file in local_files(path):
        yield from _file_records(file, unreadable)
    if unreadable:
        message = (
            f"{len(unreadable)} log line(s) hold no feature record and were skipped "
            f"(first: {unreadable[0]})"
        )
        findings.append(Finding("warning", "unreadable_log_lines", message))


def _log_batches(path: Path, findings: list[Finding], chunk: int) -> Iterator[pa.RecordBatch]:
    records = _log_records(path, findings)
    while batch := list(itertools.islice(records, chunk)):
        frame = pd.DataFrame.from_records(batch)
        yield pa.RecordBatch.from_pandas(frame, preserve_index=False)


def _csv_batches(path: Path, sep: str) -> Iterator[pa.RecordBatch]:
    """Every value as text (numbers are cast once, on the sample)."""
    with open(path, newline="", encoding="utf-8") as handle:
        names = next(csv.reader(handle, delimiter=sep), [])
    if not names:
        return
    text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
    )
    parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    yield from pacsv.open_csv(path, pacsv.ReadOptions(block_size=8 << 20), parse, text)


def _batches(
    path: Path, fmt: str, sep: str, findings: list[Finding], chunk: int = 50_000
) -> Iterable[pa.RecordBatch]:
    """The source as Arrow record batches."""
    if fmt == "parquet":
        return pq.ParquetFile(path).iter_batches(65_536)
    if fmt == "logs":
        return _log_batches(path, findings, chunk)
    return _csv_batches(path, sep)


def read_source(
    path: Path, fmt: str, sep: str, k: int, seed: int, role: str
) -> tuple[Table, list[Finding]]:
    """A seeded sample of a CSV, a Parquet file or prediction logs, and findings about
    unreadable lines."""
    if not path.exists():
        hint = HINTS[role].format(package=__package__)
        raise UserError(f"{role} data {path} does not exist: {hint}")
    fmt, findings = file_format(path, fmt), []
    if path.is_dir() and fmt != "logs":
        raise UserError(
            f"{role} data {path} is a folder; set drift.format: predictions for prediction logs"
        )
    try:
        sample, rows = _sample(_batches(path, fmt, sep, findings), k, seed)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{role} data {path} is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from None
    except (ValueError, OSError, TypeError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise UserError(f"{role} data {path} is not a readable {fmt} file: {message}") from None
    sample.columns = [str(c).strip() for c in sample.columns]
    return Table(str(path), rows, sample), findings

"""The model server's prediction logs and the labels that arrive for them later, as Arrow tables.

Both come from a local folder or file, or from a URL of the storage DVC's remotes use (``s3://``,
``gs://``, ``az://``; fsspec and the remote's plugin, which ``make setup`` installs). A folder is
read recursively; gzipped files too. Logs are JSON lines, one record per scored row
(``schemas/prediction-log.schema.json``): pyarrow parses each file in one pass; a file whose
values change type from line to line is parsed again with Python's json module, values as text.
Labels are CSV or JSON-lines files with ``prediction_id``, ``label`` and optionally
``timestamp``. The drift check lists log files with ``local_files`` too.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from .errors import UserError
from .io import LOG_SUFFIXES

LABEL_SUFFIXES = (".csv", *LOG_SUFFIXES)
LABEL_COLUMNS = ("prediction_id", "label")
ONE_THREAD = pajson.ReadOptions(use_threads=False)  # the files are read in parallel instead
# What the quality check reads of a log record; nested objects become "features.<column>" and
# "probabilities.<class>" columns.
LOG_FIELDS = ("prediction_id", "timestamp", "prediction")
NESTED = ("features", "probabilities")


def _suffix(name: str) -> str:
    return Path(name.lower().removesuffix(".gz")).suffix


def local_files(path: Path, suffixes: tuple[str, ...] = LOG_SUFFIXES) -> list[Path]:
    """``path`` itself, or the files under the folder ``path`` with one of ``suffixes``."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and _suffix(p.name) in suffixes)


class Source:
    """The files of a folder, file or URL, each opened as bytes (gunzipped when ``.gz``)."""

    def __init__(self, location: str, suffixes: tuple[str, ...], role: str) -> None:
        self.location, self.fs = location, None
        if "://" in location:
            self.fs, root = _filesystem(location, role)
            found = [root] if self.fs.isfile(root) else self.fs.find(root)
            self.files = sorted(f for f in found if _suffix(f) in suffixes)
        elif Path(location).exists():
            self.files = [str(p) for p in local_files(Path(location), suffixes)]
        else:
            self.files = []

    def open(self, file: str) -> IO[bytes]:
        handle = self.fs.open(file, "rb") if self.fs else open(file, "rb")  # noqa: SIM115
        return gzip.open(handle) if file.endswith(".gz") else handle


def _filesystem(url: str, role: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)
    except ImportError as exc:
        raise UserError(
            f"cannot read {role} from {url}: {exc}. Install the DVC remote's extra, e.g. "
            "`pip install -e '.[s3]'` (gcs, azure), as `make setup` does"
        ) from None


def _flat(table: pa.Table) -> pa.Table:
    """The fields the check needs, nested objects flattened (``features.x1``)."""
    wanted = [name for name in LOG_FIELDS if name in table.column_names]
    wanted += [name for name in NESTED if name in table.column_names]
    flat = table.select(wanted)
    while any(pa.types.is_struct(field.type) for field in flat.schema):
        flat = flat.flatten()
    return flat


def _text_record(line: str) -> dict[str, Any] | None:
    """One log line, flattened, every value but the probabilities as text."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    row = {key: _text(record.get(key)) for key in LOG_FIELDS}
    for key, value in (record.get("features") or {}).items():
        row[f"features.{key}"] = _text(value)
    for key, value in (record.get("probabilities") or {}).items():
        row[f"probabilities.{key}"] = value
    return row


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_slowly(handle: IO[bytes]) -> pa.Table:
    """The records of a file that pyarrow cannot parse; lines that hold none are skipped."""
    rows = [_text_record(line) for line in handle.read().decode("utf-8").splitlines()]
    return pa.Table.from_pylist([row for row in rows if row is not None])


def _parse_log(source: Source, file: str) -> pa.Table:
    try:
        with source.open(file) as handle:
            return _flat(pajson.read_json(handle, ONE_THREAD))
    except pa.ArrowInvalid:  # e.g. a value that is a number in one line and text in another
        with source.open(file) as handle:
            return _parse_slowly(handle)


def _read_log(source: Source, file: str) -> pa.Table:
    try:
        return _parse_log(source, file)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read prediction log {file}: {exc}") from None


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table; when files disagree on a column's type, everything but probabilities as text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.concat_tables([_as_text(t) for t in tables], promote_options="permissive")


def _as_text(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if not field.name.startswith("probabilities."):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def _tables(source: Source, read: Any) -> Iterator[pa.Table]:
    """The non-empty tables of the files, read one file per core at a time (pyarrow lets go of
    the GIL while it parses)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for table in pool.map(partial(read, source), source.files):
            if table.num_rows:
                yield table


def read_logs(location: str) -> tuple[pa.Table, int]:
    """Every logged prediction (``prediction_id``, ``timestamp``, ``prediction``,
    ``probabilities.*``, ``features.*``) and the number of log files."""
    source = Source(location, LOG_SUFFIXES, "prediction logs")
    tables = list(_tables(source, _read_log))
    if not tables:
        return pa.table({name: pa.array([], pa.string()) for name in LOG_FIELDS}), len(source.files)
    logs = _concat(tables)
    if "prediction_id" not in logs.column_names:
        raise UserError(
            f"the prediction logs in {location} have no prediction_id: they come from a server "
            "that did not log one yet, and labels join on it. Deploy the current image, then "
            "label its predictions"
        )
    return logs, len(source.files)


def _read_label_file(source: Source, file: str) -> pa.Table:
    try:
        with source.open(file) as handle:
            if _suffix(file) == ".csv":
                convert = pacsv.ConvertOptions(
                    column_types=dict.fromkeys([*LABEL_COLUMNS, "timestamp"], pa.string())
                )
                table = pacsv.read_csv(handle, pacsv.ReadOptions(use_threads=False), None, convert)
            else:
                table = pajson.read_json(handle, ONE_THREAD)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        message = str(exc).strip().splitlines()[0]
        raise UserError(f"cannot read labels file {file}: {message}") from None
    missing = [name for name in LABEL_COLUMNS if name not in table.column_names]
    if missing:
        raise UserError(
            f"labels file {file} has no {' or '.join(missing)} column: each labels file needs "
            f"prediction_id,label (and optionally timestamp); found {', '.join(table.column_names)}"
        )
    names = [n for n in (*LABEL_COLUMNS, "timestamp") if n in table.column_names]
    return _as_text(table.select(names))


def read_labels(location: str) -> tuple[pa.Table, int]:
    """Every label (``prediction_id``, ``label``, ``timestamp`` when given, all as text) and the
    number of labels files."""
    source = Source(location, LABEL_SUFFIXES, "labels")
    tables = list(_tables(source, _read_label_file))
    if not tables:
        empty = {name: pa.array([], pa.string()) for name in (*LABEL_COLUMNS, "timestamp")}
        return pa.table(empty), len(source.files)
    return _concat(tables), len(source.files)

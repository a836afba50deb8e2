"""Reading and writing the project's files, the one layer the commands go through: atomic writes
(a failed run never leaves a half-written model, metric or plot), the CSV reader, and the model
file: skops, which loads only the types listed here and never runs code from the file."""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import UserError

# What a model file may hold beyond skops' own trusted types: exactly what the pipelines of every
# task and model family need (checked by a test with skops.io.get_untrusted_types).
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.KFold",
    "sklearn.tree._tree.Tree",
]


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it over ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The writer creates the temporary file, so it gets the usual permissions.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: Path | str, payload: Any) -> None:
    write_text(target, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_csv(frame: pd.DataFrame, target: Path | str, **options: Any) -> None:
    """``frame`` as CSV without its index; ``options`` go to ``DataFrame.to_csv``."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, **options)


def replace_csv_files(folder: Path, frames: dict[str, pd.DataFrame], **options: Any) -> None:
    """Write each frame as ``folder/name``; remove the folder's other CSV files (another
    task's)."""
    for stale in set(folder.glob("*.csv")) - {folder / name for name in frames}:
        stale.unlink()
    for name, frame in frames.items():
        write_csv(frame, folder / name, **options)


LOG_SUFFIXES = (".jsonl", ".ndjson", ".json")  # prediction logs (JSON lines), gzipped or not


def file_format(path: Path, declared: str = "auto") -> str:
    """csv, parquet or logs (JSON lines of the model server): ``declared``, else from the name."""
    if declared != "auto":
        return "logs" if declared == "predictions" else declared
    name = path.name.lower().removesuffix(".gz")
    if path.is_dir() or name.endswith(LOG_SUFFIXES):
        return "logs"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def write_frame(frame: pd.DataFrame, path: Path, sep: str = ",") -> None:
    """As CSV, Parquet or prediction-log JSON lines (``{"features": {...}}``), from the file
    name."""
    fmt = file_format(path)
    if fmt == "csv":
        write_csv(frame, path, sep=sep)
        return
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            lines = [json.dumps({"features": record}, default=str) + "\n" for record in records]
            tmp.write_text("".join(lines), encoding="utf-8")


def read_csv(path: Path | str, sep: str = ",", **options: Any) -> pd.DataFrame:
    """Read a CSV into pandas (the one CSV reader): every failure is a UserError saying what to
    do. ``options`` go to ``pandas.read_csv``."""
    if not Path(path).is_file():
        raise UserError(
            f"data file {path} does not exist (or is a folder): copy your CSV there (and `dvc add` "
            "it) or fix the path in params.yaml (data.path, drift.current); `make data` writes the "
            "bundled sample"
        )
    try:
        frame = pd.read_csv(path, sep=sep, low_memory=False, **options)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"data file {path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV"
        ) from None
    except pd.errors.EmptyDataError:
        raise UserError(
            f"data file {path} is empty or has no columns: it needs a header row"
        ) from None
    except pd.errors.ParserError as exc:
        raise UserError(f"data file {path} is not a readable CSV: {exc}".strip()) from None
    if frame.empty:
        raise UserError(f"data file {path} has a header but no data rows")
    frame.columns = [str(column).strip() for column in frame.columns]
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        raise UserError(f"data file {path} has duplicated column names: {', '.join(duplicated)}")
    return frame


def read_text(path: Path | str) -> str | None:
    """The file's text; None when there is no such file."""
    path = Path(path)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_model(pipeline: Any, target: Path | str) -> None:
    """Save the pipeline as a skops file whose bytes depend only on the pipeline.

    The same commit then trains the same bytes, so `dvc repro` reproduces the md5 in dvc.lock and
    a retrain that changed nothing shows no model change.
    """
    import skops.io as sio

    data = sio.dumps(pipeline)  # stored, not compressed: canonical_skops compresses it once
    with atomic_path(target) as tmp:
        tmp.write_bytes(canonical_skops(data))


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive, without what differs from one save to the next.

    skops names the archive's array members and its shared-object ids after `id()` of objects in
    the saving process, and zip stamps each member with the time of writing. Here both kinds of
    id are numbered in the order `schema.json` lists them, and every member gets one fixed time,
    so loading gives the same objects and saving twice gives the same bytes.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members.pop("schema.json"))
    files: dict[str, str] = {}
    ids: dict[int, int] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                renumber(item)
            return
        if not isinstance(node, dict):
            return
        if "__loader__" in node:
            if isinstance(node.get("__id__"), int):
                node["__id__"] = ids.setdefault(node["__id__"], len(ids))
            if node.get("file") in members:
                old = node["file"]
                node["file"] = files.setdefault(old, f"{len(files)}{Path(old).suffix}")
        for value in node.values():
            renumber(value)

    renumber(schema)
    if set(files) != set(members):
        raise ValueError(
            f"skops archive members not named in schema.json: {set(members) - set(files)}"
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        entries = [("schema.json", json.dumps(schema, indent=2).encode())]
        entries += sorted((new, members[old]) for old, new in files.items())
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, payload)
    return out.getvalue()


def read_model(path: Path | str) -> Any:
    """The pipeline in a skops file; a file holding any type not trusted above is refused."""
    import skops.io as sio

    if not Path(path).is_file():
        raise UserError(f"{path} not found: train first with `make repro` (or `dvc pull`)")
    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        if not untrusted:
            return sio.load(path, trusted=TRUSTED_TYPES)
    except Exception as exc:
        raise UserError(
            f"{path} is not a model saved by training ({exc}); run `make repro`"
        ) from None
    raise UserError(
        f"{path} holds types this project does not trust: {', '.join(untrusted)}. Run "
        "`make repro`; if you changed the pipeline and trust these types, add them to "
        "TRUSTED_TYPES in io.py"
    )


def read_reference(path: Path | str) -> dict[str, Any] | None:
    """The monitoring reference next to a model; None for a model trained before there was one."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None

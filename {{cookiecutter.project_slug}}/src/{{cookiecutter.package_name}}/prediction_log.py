"""The prediction log (docs/prediction-log.md): one JSON line per scored record, the audit record
that schemas/prediction-log.schema.json describes. ``PREDICTION_LOG`` says where lines go: ``-``
(stdout, for a cluster's log pipeline), a local folder, or a URL (``s3://``, ``gs://``,
``az://``) written with fsspec, the file-system library behind DVC's remotes.

A folder or URL gets a new file per flush, ``<base>/<YYYY>/<MM>/<DD>/<host>-<start>-<seq>.jsonl``
(object stores cannot append; readers glob ``**/*.jsonl``). Lines wait in memory (the pod's root
file system is read-only) and are written every ``PREDICTION_LOG_FLUSH_SECONDS``, as soon as the
buffer holds ``PREDICTION_LOG_FLUSH_BYTES``, and when the server stops: uvicorn answers the
requests in flight after SIGTERM, then the last flush writes every line of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import signal
import socket
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .errors import UserError

# The fsspec implementation of each URL scheme: the packages of the log-s3/log-gcs/log-azure extras.
BACKENDS = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
# A failed write is retried at the next flush; beyond this many bytes waiting, lines are dropped.
MAX_PENDING_BYTES = 64 * 1024 * 1024


def new_ids(count: int) -> list[str]:
    """One prediction id per record: a random UUID, 32 hex digits."""
    return [uuid.uuid4().hex for _ in range(count)]


@dataclass(frozen=True)
class Origin:
    """What every line of this server's log repeats: the model and the image that scored it."""

    model_version: str
    image_digest: str | None
    git_commit: str | None

    def lines(
        self,
        ids: list[str],
        request_id: str,
        records: list[dict[str, Any]],
        result: dict[str, list],
        latency_ms: float,
    ) -> str:
        """The JSON lines of one answered request (one per record), newline-terminated."""
        common = {
            "request_id": request_id,
            "timestamp": datetime.now(UTC).isoformat(),
            "model_version": self.model_version,
            "image_digest": self.image_digest,
            "git_commit": self.git_commit,
        }
        probabilities = result.get("probabilities") or [None] * len(records)
        out = []
        for prediction_id, record, prediction, chances in zip(
            ids, records, result["predictions"], probabilities, strict=True
        ):
            line = {"prediction_id": prediction_id, **common, "features": record}
            line["prediction"] = prediction
            if chances is not None:
                line["probabilities"] = chances
            line["latency_ms"] = latency_ms
            out.append(json.dumps(line, default=str) + "\n")
        return "".join(out)


class Sink(Protocol):
    def append(self, text: str) -> None: ...

    async def run(self) -> None: ...

    def close(self) -> None: ...

    async def flush(self) -> None: ...


class StdoutSink:
    """``PREDICTION_LOG=-``: each request's lines on stdout at once (the container log)."""

    def append(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    async def run(self) -> None:
        return

    def close(self) -> None:
        return

    async def flush(self) -> None:
        return


class Folder:
    """A local folder: each file is written under a temporary name, then renamed, so a reader
    globbing ``*.jsonl`` never sees half a file."""

    def __init__(self, base: str) -> None:
        self.base = Path(base)

    def put(self, relative: str, data: bytes) -> None:
        path = self.base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)


def check_target(target: str) -> None:
    """A URL's scheme must be one fsspec storage this module knows."""
    if "://" in target and target.split("://", 1)[0] not in BACKENDS:
        known = ", ".join(f"{scheme}://" for scheme in BACKENDS)
        raise UserError(f"PREDICTION_LOG {target!r}: unknown storage; use -, a folder, or {known}")


class Bucket:
    """A URL of an object store, through fsspec; credentials come from the environment (the
    pod's cloud identity), never from the image. One PUT per file: a file is whole or absent.
    The buffered sink calls ``put`` in a worker process (``upload_process``)."""

    def __init__(self, url: str) -> None:
        check_target(url)
        package = BACKENDS[url.split("://", 1)[0]]
        try:
            import fsspec

            self.fs, self.root = fsspec.url_to_fs(url)
        except ImportError as exc:
            extra = {"s3fs": "log-s3", "gcsfs": "log-gcs", "adlfs": "log-azure"}[package]
            raise UserError(
                f"PREDICTION_LOG {url!r} needs {package}: install the {extra} extra "
                f"(uv sync --extra serve --extra {extra}) ({exc})"
            ) from exc

    def put(self, relative: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.root.rstrip('/')}/{relative}", data)


def _ignore_stop_signals() -> None:
    # Ctrl-C or SIGTERM sent to the whole process group (make serve, a container runtime) stops
    # the server, whose last flush still needs this worker; the server then shuts it down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def upload_process() -> ProcessPoolExecutor:
    """One worker process for a bucket's uploads. An upload of a few MiB takes tens of
    milliseconds of CPU in the HTTP client (request signing, checksums, sending); in a thread of
    the server it competes with the event loop for the GIL, and the requests of those moments
    wait (benchmarks/bench_serve.py: p99 34.6 ms in a thread, 21.1-21.7 ms in a process)."""
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
    return ProcessPoolExecutor(1, mp_context=spawn, initializer=_ignore_stop_signals)


class BufferedSink:
    """Lines of a folder or bucket, kept in memory and written one file per flush: a folder's
    from a thread, a bucket's from ``uploads``, a worker process."""

    def __init__(
        self,
        store: Folder | Bucket,
        seconds: float,
        max_bytes: int,
        on_error: Callable[[], None],
        uploads: Executor | None = None,
    ) -> None:
        self.store = store
        self.uploads = uploads  # None: the event loop's default thread pool
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.on_error = on_error
        self.host = socket.gethostname()
        self.start = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.sequence = 0
        self.pending: list[str] = []
        self.size = 0
        self.full = asyncio.Event()
        self.closing = False

    def append(self, text: str) -> None:
        self.pending.append(text)
        self.size += len(text)
        if self.size >= self.max_bytes:
            self.full.set()

    async def run(self) -> None:
        """Flush every ``seconds``, or sooner when the buffer is full, until closed; then retry
        what a failed flush put back, and stop the upload worker."""
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.full.wait(), self.seconds)
            self.full.clear()
            await self.flush()
        await self.flush()
        if self.uploads:
            self.uploads.shutdown()

    def close(self) -> None:
        """Make ``run`` flush once more and return."""
        self.closing = True
        self.full.set()

    async def flush(self) -> None:
        """Write what is pending as one new file (in a thread or a process: the event loop keeps
        serving)."""
        if not self.pending:
            return
        text, self.pending, self.size = "".join(self.pending), [], 0
        self.sequence += 1
        now = datetime.now(UTC)
        name = f"{now:%Y/%m/%d}/{self.host}-{self.start}-{self.sequence:06d}.jsonl"
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.uploads, self.store.put, name, text.encode())
        except Exception as exc:
            self.on_error()
            if isinstance(exc, BrokenProcessPool):  # the worker died (killed): start another
                self.uploads.shutdown(wait=False)  # its worker is gone; free its queues
                self.uploads = upload_process()
            print(f"prediction log: writing {name} failed: {exc!r}", file=sys.stderr)
            if self.size + len(text) <= MAX_PENDING_BYTES:  # retried at the next flush
                self.pending.insert(0, text)
                self.size += len(text)


def open_sink(target: str, seconds: float, max_bytes: int, on_error: Callable[[], None]) -> Sink:
    """The sink that ``PREDICTION_LOG`` names; a bad value stops the server with the fix."""
    if target == "-":
        return StdoutSink()
    if "://" in target:
        return BufferedSink(Bucket(target), seconds, max_bytes, on_error, upload_process())
    return BufferedSink(Folder(target), seconds, max_bytes, on_error)

"""Stopping the processes tests, benchmarks and `make demo` start in a session of their own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process group (a clean shutdown: uvicorn drains and exits), SIGKILL if it
    has not exited within ``timeout`` seconds. The process must have been started with
    ``start_new_session=True`` so that its group holds it and its children only."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)

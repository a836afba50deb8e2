"""Shared by the benchmark scripts (each is run from the repository root as
`python -m benchmarks.bench_<topic>`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from pathlib import Path


def summary(values: list[float], digits: int = 3) -> dict[str, float]:
    """Median, maximum and count of repeated timings, in seconds."""
    return {
        "median_s": round(statistics.median(values), digits),
        "max_s": round(max(values), digits),
        "runs": len(values),
    }


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(entry.name)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = int(fields[21]) * page
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total


def measure(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float | int | str]:
    """Wall time, peak tree RSS (polled) and peak single-process RSS (wait4) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # the process and its waited-for children
        "peak_tree_rss_mb": round(peak / 2**20),
        "peak_process_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_code": proc.returncode,
        "stdout": out.strip()[-400:],
        "stderr": err.strip()[-400:],
    }

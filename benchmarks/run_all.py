"""Run every benchmarks/bench_*.py in turn; each writes its JSON under benchmarks/results/.

Each runs as a module from the repository root (`python -m benchmarks.bench_<topic>`), which is
how it imports the template_support package it shares with the tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CCDS = Path("/tmp/ccds-template")  # a local checkout, if present (see bench_template.py)
EXTRA_ARGS = {
    "bench_template.py": ["--quick-tier", *(["--ccds-template", str(CCDS)] if CCDS.is_dir() else [])]
}


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        command = [sys.executable, "-m", f"benchmarks.{script.stem}", *EXTRA_ARGS.get(script.name, [])]
        if subprocess.run(command, cwd=ROOT).returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmarks/bench_*.py in turn; each writes its JSON under benchmarks/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CCDS = Path("/tmp/ccds-template")  # a local checkout, if present (see bench_template.py)
EXTRA_ARGS = {
    "bench_template.py": ["--quick-tier", *(["--ccds-template", str(CCDS)] if CCDS.is_dir() else [])]
}


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *EXTRA_ARGS.get(script.name, [])]).returncode:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Find an interpreter of a given Python version for uv (the template's tests, benchmarks, scripts).

On the project's machines `python3.12` and `python3.13` are pyenv shims, which fail unless that
version is selected; uv then cannot use them. The real executables are under `pyenv root`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def _runs(executable: str, version: str) -> bool:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_python(version: str) -> str:
    """A path to a working python{version}, or the bare version (uv then finds or fetches one)."""
    found = shutil.which(f"python{version}")
    if found and _runs(found, version):
        return found
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip())
        for candidate in sorted(root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True):
            if _runs(str(candidate), version):
                return str(candidate)
    return version

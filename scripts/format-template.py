"""Apply ruff's fixes and formatting to the template's Python files.

Bakes the defaults, runs `ruff check --fix` and `ruff format` on the baked project, and copies
each changed file back into the template with the package name turned back into its Jinja
variable. Files holding other Jinja are reported, not copied: edit those by hand.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
SOURCE = TEMPLATE / "{{cookiecutter.project_slug}}"
PACKAGE = "zz_pkg_sentinel"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(
            cookiecutter(
                str(TEMPLATE), no_input=True, output_dir=tmp, extra_context={"package_name": PACKAGE}
            )
        )
        ruff = [sys.executable, "-m", "ruff"]
        subprocess.run([*ruff, "check", "--fix", "-q", "."], cwd=project)
        subprocess.run([*ruff, "format", "-q", "."], cwd=project, check=True)
        for baked in project.rglob("*.py"):
            relative = baked.relative_to(project)
            source = SOURCE / Path(
                *(p.replace(PACKAGE, "{{cookiecutter.package_name}}") for p in relative.parts)
            )
            if not source.is_file():
                continue
            original = source.read_text()
            rendered = baked.read_text().replace(PACKAGE, "{{ cookiecutter.package_name }}")
            if rendered == original:
                continue
            other_jinja = re.sub(r"\{\{ cookiecutter\.package_name \}\}", "", original)
            if "{{" in other_jinja or "{%" in other_jinja:
                print(f"needs a hand edit (other Jinja): {source.relative_to(TEMPLATE)}")
                continue
            source.write_text(rendered)
            print(f"formatted {source.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the template's checked-in alert rules and dashboards (monitoring=prometheus-operator).

    python scripts/monitoring-template.py

A generated project writes k8s/overlays/<env>/monitoring/{prometheusrule.yaml,dashboard.json}
with its own monitoring/generate.py. The template ships those files already written, as Jinja
templates: this script bakes a project whose answers are marker strings, runs the project's
generator there, and turns each marker back into the cookiecutter variable it stands for (the
rest, full of Prometheus' and Grafana's own double braces, is kept raw). tests/test_monitoring.py
checks, for several option combinations, that a bake's files equal its generator's output.
Run it after changing monitoring/generate.py or monitoring/settings.yaml of the template.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "{{cookiecutter.project_slug}}"
ENVIRONMENTS = ("staging", "production")
FILES = ("prometheusrule.yaml", "dashboard.json")
MARKERS = {
    "project_slug": "marker-slug-zq",
    "k8s_namespace": "marker-namespace-zq",
    "github_owner": "marker-owner-zq",
}
# The dashboard's uid first: settings.yaml cuts it to Grafana's 40 characters.
REPLACEMENTS = [
    *(
        (
            f'"uid": "{MARKERS["project_slug"]}-{env}"',
            f'"uid": "{{{{ (cookiecutter.project_slug ~ "-{env}")[:40] }}}}"',
        )
        for env in ENVIRONMENTS
    ),
    *((marker, f"{{{{ cookiecutter.{name} }}}}") for name, marker in MARKERS.items()),
]


def as_template(text: str) -> str:
    """``text`` with each marker as its cookiecutter variable and everything else raw."""
    for marker, variable in REPLACEMENTS:
        text = text.replace(marker, f"{{% endraw %}}{variable}{{% raw %}}")
    return "{% raw %}" + text + "{% endraw %}"


def main() -> None:
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory() as tmp:
        baked = Path(
            cookiecutter(str(ROOT), no_input=True, output_dir=tmp, accept_hooks=False, extra_context=MARKERS)
        )
        for env in ENVIRONMENTS:  # the files being rewritten may be out of date: start without them
            for name in FILES:
                (baked / "k8s/overlays" / env / "monitoring" / name).unlink(missing_ok=True)
        subprocess.run([sys.executable, "monitoring/generate.py"], cwd=baked, check=True)
        for env in ENVIRONMENTS:
            for name in FILES:
                written = (baked / "k8s/overlays" / env / "monitoring" / name).read_text()
                target = PROJECT / "k8s/overlays" / env / "monitoring" / name
                target.write_text(as_template(written))
                print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

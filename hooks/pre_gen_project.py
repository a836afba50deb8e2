"""Reject bad cookiecutter input before anything is generated.

Each check returns an error message naming the field and the fix, or None. All errors are
printed together and generation stops (cookiecutter then removes the half-made project).
This file is plain Python before rendering too, so tests import its functions as they are.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# Filled in by cookiecutter as JSON (quotes and backslashes in answers stay harmless).
RAW_CONTEXT = r"""{{ cookiecutter | jsonify }}"""

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "task": ("classification", "regression"),
    "model_family": ("random_forest", "gradient_boosting", "linear"),
    "dvc_remote": ("none", "s3", "gcs", "azure", "ssh"),
    "license": ("MIT", "BSD-3-Clause", "Apache-2.0", "none"),
    "deploy": ("actions", "argocd"),
    "monitoring": ("prometheus-operator", "none"),
}
REMOTE_SCHEMES = {"s3": "s3://", "gcs": "gs://", "azure": "azure://", "ssh": "ssh://"}
# Package names that would shadow a dependency or the standard library when imported.
RESERVED_PACKAGES = {"test", "tests", "dvc", "sklearn", "pandas", "numpy", "yaml", "evidently", "src"}
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(WEEKDAYS)}),
)


def check_project_name(value: str) -> str | None:
    if not value.strip():
        return "project_name is empty: give the project a name"
    return None


def check_slug(value: str) -> str | None:
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", value) or len(value) > 63:
        return (
            f"project_slug {value!r} is not valid: use lowercase letters, digits and single hyphens, "
            "starting with a letter, at most 63 characters (e.g. 'churn-model')"
        )
    return None


def check_package(value: str) -> str | None:
    if not value.isidentifier() or keyword.iskeyword(value) or value != value.lower():
        return (
            f"package_name {value!r} is not a valid Python package name: use lowercase letters, "
            "digits and underscores, starting with a letter (e.g. 'churn_model')"
        )
    if value in RESERVED_PACKAGES or value in sys.stdlib_module_names:
        return f"package_name {value!r} would shadow an existing module; choose another name"
    return None


def check_email(value: str) -> str | None:
    if not re.fullmatch(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
        return f"author_email {value!r} is not an e-mail address (expected name@example.com)"
    return None


def check_github_owner(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9](-?[A-Za-z0-9])*", value) or len(value) > 39:
        return (
            f"github_owner {value!r} is not a GitHub user or organisation name: letters, digits and "
            "single hyphens, at most 39 characters"
        )
    return None


def check_choice(field: str, value: str) -> str | None:
    if value not in CHOICES[field]:
        return f"{field} {value!r} is not supported; choose one of: {', '.join(CHOICES[field])}"
    return None


def check_remote(remote: str, url: str) -> str | None:
    if remote == "none":
        if url:
            return "dvc_remote_url is set but dvc_remote is 'none': set dvc_remote or clear the URL"
        return None
    scheme = REMOTE_SCHEMES.get(remote)
    if scheme is None:
        return None  # reported by check_choice
    if not url:
        return f"dvc_remote_url is empty but dvc_remote is {remote!r}: give a URL such as {scheme}bucket/path"
    if not url.startswith(scheme) or len(url) == len(scheme) or any(c.isspace() for c in url):
        return f"dvc_remote_url {url!r} does not match dvc_remote {remote!r}: it must start with {scheme}"
    return None


# The staging overlay deploys to "<namespace>-staging", which must fit Kubernetes' 63 characters.
MAX_NAMESPACE = 63 - len("-staging")


def check_namespace(value: str) -> str | None:
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", value) or len(value) > MAX_NAMESPACE:
        return (
            f"k8s_namespace {value!r} is not a usable Kubernetes namespace name: lowercase letters, "
            f"digits and hyphens, starting and ending with a letter or digit, at most {MAX_NAMESPACE} "
            "characters (staging adds '-staging')"
        )
    return None


def _check_cron_part(part: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"step {step!r} in the {name} field"
    if base == "*":
        return None
    bounds = base.split("-")
    if len(bounds) > 2:
        return f"{base!r} in the {name} field"
    values = []
    for bound in bounds:
        value = names.get(bound.upper(), int(bound) if bound.isdigit() else None)
        if value is None or not low <= value <= high:
            return f"{bound!r} in the {name} field (allowed {low}-{high})"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"range {base!r} in the {name} field runs backwards"
    return None


def check_cron(value: str) -> str | None:
    fields = value.split()
    if len(fields) != 5:
        return (
            f"drift_schedule {value!r} is not a cron expression: GitHub Actions needs exactly 5 fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 6 * * 1' (Mondays 06:00 UTC)"
        )
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            problem = _check_cron_part(part, name, low, high, names) if part else f"empty item in {name}"
            if problem:
                return f"drift_schedule {value!r} is not a valid cron expression: {problem}"
    return None


def validate(context: dict[str, str]) -> list[str]:
    checks = [
        check_project_name(context["project_name"]),
        check_slug(context["project_slug"]),
        check_package(context["package_name"]),
        check_email(context["author_email"]),
        check_github_owner(context["github_owner"]),
        *(check_choice(field, context[field]) for field in CHOICES),
        check_remote(context["dvc_remote"], context["dvc_remote_url"]),
        check_namespace(context["k8s_namespace"]),
        check_cron(context["drift_schedule"]),
    ]
    return [message for message in checks if message]


def main() -> int:
    errors = validate(json.loads(RAW_CONTEXT))
    for message in errors:
        print(f"ERROR: {message}", file=sys.stderr)
    if errors:
        print("Nothing was generated. Fix the values above and run cookiecutter again.", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

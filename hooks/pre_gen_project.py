"""Reject bad cookiecutter input before anything is generated.

Each check returns an error message naming the field and the fix, or None. All errors are
printed together, then one command that asks again with every valid answer kept, and
generation stops (cookiecutter then removes the half-made project).
This file is plain Python before rendering too, so tests import its functions as they are.

What cookiecutter (2.7) allows a failing pre_gen_project hook: its own output, then a non-zero
exit. cookiecutter itself then logs "Stopping generation because pre_gen_project hook script
didn't exit successfully" with the traceback of its FailedHookException (hooks.py,
run_hook_from_repo_dir: logger.exception, printed on stdout at every verbosity), and the CLI
prints "Hook script failed (exit status: 1)" and exits 1. No option or template setting turns
that traceback off, so the message below says it adds nothing.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shlex
import sys
from pathlib import Path

# Filled in by cookiecutter as JSON (quotes and backslashes in answers stay harmless). Besides
# the answers, cookiecutter's own entry point (its CLI and cookiecutter.main.cookiecutter) adds
# _template (as the user typed it), _repo_dir (the template's directory, since cookiecutter 2.2),
# _output_dir and _checkout. A tool that calls cookiecutter's generate_files itself (cruft) adds
# none of them except _template.
RAW_CONTEXT = r"""{{ cookiecutter | jsonify }}"""
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


def read_options(template_dir: str | Path) -> dict:
    """The template's cookiecutter.json: the one place where options and choices are written.

    ``_repo_dir`` is the template as the user named it, so `cookiecutter .` gives a path relative
    to where cookiecutter started, while this hook runs in the project's folder: such a path is
    taken from the starting shell's folder ($PWD). Where cookiecutter.json still cannot be found,
    the answers are checked without it ({} here), as under cruft.
    """
    folder = Path(template_dir)
    if not folder.is_absolute():
        folder = Path(os.environ.get("PWD", ".")) / folder
    try:
        return json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def choice_options(options: dict) -> dict[str, list[str]]:
    """Options whose default is a list: cookiecutter offers exactly those values."""
    return {
        key: value for key, value in options.items() if isinstance(value, list) and not key.startswith("_")
    }


def check_choice(field: str, value: str, choices: list[str]) -> str | None:
    # cookiecutter refuses other values when asking or from the command line; a replayed or
    # hand-edited answer file reaches this hook unchecked.
    if value not in choices:
        return f"{field} {value!r} is not supported; choose one of: {', '.join(choices)}"
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


def validate(context: dict[str, str], choices: dict[str, list[str]]) -> dict[str, str]:
    """Every problem found, as {field to fix: message}."""
    problems = {
        "project_name": check_project_name(context["project_name"]),
        "project_slug": check_slug(context["project_slug"]),
        "package_name": check_package(context["package_name"]),
        "author_email": check_email(context["author_email"]),
        "github_owner": check_github_owner(context["github_owner"]),
        **{field: check_choice(field, context[field], values) for field, values in choices.items()},
        "dvc_remote_url": check_remote(context["dvc_remote"], context["dvc_remote_url"]),
        "k8s_namespace": check_namespace(context["k8s_namespace"]),
        "drift_schedule": check_cron(context["drift_schedule"]),
    }
    return {field: message for field, message in problems.items() if message}


def kept_answers(context: dict[str, str], options: dict, bad_fields: set[str]) -> dict[str, str]:
    """The valid answers that differ from what cookiecutter would offer anyway, in prompt order.

    A default computed from other answers (it names cookiecutter.<option>) is always kept as given.
    """
    kept = {}
    for key, default in options.items():
        if key.startswith("_") or key in bad_fields:
            continue
        offered = default[0] if isinstance(default, list) else default
        if context[key] != offered or "cookiecutter." in str(offered):
            kept[key] = context[key]
    return kept


def retry_command(context: dict[str, str], kept: dict[str, str]) -> str:
    """The cookiecutter command that asks again, each kept answer as its question's default.

    Quoted for a POSIX shell. The output directory is named unless it is the current one.
    """
    words = ["cookiecutter", context["_template"]]
    if context.get("_checkout"):
        words += ["--checkout", context["_checkout"]]
    output_dir = context.get("_output_dir")
    if output_dir and os.path.realpath(os.environ.get("PWD", "")) != os.path.realpath(output_dir):
        words += ["--output-dir", output_dir]
    words += [f"{key}={value}" for key, value in kept.items()]
    return shlex.join(words)


def report(problems: dict[str, str], command: str | None) -> str:
    """What the user reads: each problem, then the one command to run next (the last line)."""
    lines = [f"ERROR: {message}" for message in problems.values()]
    if command is None:
        return "\n".join([*lines, "Nothing was generated. Fix the values above and run it again."])
    asked = ", ".join(problems)
    lines += [
        "",
        "Nothing was generated. cookiecutter prints its own traceback below; the lines above are",
        "all that went wrong. Your other answers are kept: this asks again with each of them as the",
        f"default (press Enter to keep it) and asks {asked} afresh:",
        "",
        f"    {command}",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    context = json.loads(RAW_CONTEXT)
    # Without _repo_dir (cruft), the answers came through cookiecutter's own prompt and
    # overrides, which accept listed choices only: nothing is left for check_choice, and there
    # is no cookiecutter command to print.
    options = read_options(context["_repo_dir"]) if "_repo_dir" in context else {}
    problems = validate(context, choice_options(options))
    if not problems:
        return 0
    command = retry_command(context, kept_answers(context, options, set(problems))) if options else None
    print(report(problems, command), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line of the package: ``python -m <package> <command>`` (the Makefile and dvc.yaml
use it).

Each command is a ``cmd_`` function below (``cmd_simulate_current`` is ``simulate-current``),
its docstring the help, and ``@command(base_name=dict(...))`` its options (``--base-name``).
Commands read and write files through ``io`` (paths from ``paths``); the modules they call
compute. Every expected failure (bad params, bad data, missing files) is printed as one line that
says what to fix, with exit code 2; outputs of earlier runs are left untouched.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import evaluate, reference, train
from .compare import build_report, retrain_pull_request
from .config import load_params
from .data import load, load_production, merge_production, read_production
from .drift_summary import DriftSummary
from .errors import UserError
from .features import load_schema
from .io import (
    atomic_path,
    read_csv,
    read_model,
    read_text,
    replace_csv_files,
    write_csv,
    write_frame,
    write_json,
    write_model,
    write_text,
)
from .paths import (
    DRIFT_REPORT_HTML,
    DRIFT_SUMMARY_JSON,
    DRIFT_SUMMARY_MD,
    METRICS_FILE,
    MODEL_FILE,
    PARAMS_FILE,
    PLOTS_DIR,
    PRODUCTION_FILE,
    QUALITY_LABELLED_CSV,
    REFERENCE_FILE,
    REFERENCE_PREDICTIONS_FILE,
    RETRAIN_PR_BODY,
    SCHEMA_FILE,
    TEST_FILE,
    TRAIN_FILE,
)
from .quality_summary import QualitySummary
from .split import split_with_production

SAMPLES = ("breast_cancer", "diabetes", "wine")
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], dict]] = {}


def command(**options: dict[str, Any]) -> Callable:
    """Registers a ``cmd_`` function as a command with these options."""

    def register(function: Callable) -> Callable:
        COMMANDS[function.__name__.removeprefix("cmd_").replace("_", "-")] = (function, options)
        return function

    return register


@command(
    dataset=dict(choices=SAMPLES, help="default: the stem of data.path"),
    out=dict(help="default: data.path from params.yaml"),
    force=dict(action="store_true", help="rewrite an existing file"),
)
def cmd_sample_data(args: argparse.Namespace) -> None:
    """Write a small real dataset that ships with scikit-learn as a CSV."""
    from sklearn import datasets

    out = Path(args.out) if args.out else load_params(args.params).data.path
    name = args.dataset or out.stem
    if name not in SAMPLES:
        raise UserError(f"{_not_a_sample(out, name)}; bundled datasets are {', '.join(SAMPLES)}")
    if out.exists() and not args.force:
        print(f"{out} exists; leaving it as it is (use --force to rewrite)")
        return
    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    write_csv(frame, out)
    print(f"wrote {out}: {len(frame)} rows x {frame.shape[1]} columns ({name}, from scikit-learn)")


def _not_a_sample(out: Path, name: str) -> str:
    if out.exists():
        return f"no bundled dataset named {name!r}"
    if out.with_name(out.name + ".dvc").exists():
        fix = (
            "it is tracked by DVC, so get it with `dvc pull` (the DVC remote must be "
            "configured); if nobody uploaded it yet, run `dvc push` where it was added"
        )
    else:
        fix = "copy it back, or point data.path in params.yaml at your CSV"
    return f"{out} is missing and is not a bundled sample: {fix}"


@command()
def cmd_check_params(args: argparse.Namespace) -> None:
    """Validate params.yaml (model.params names too) before `dvc repro` replaces any output."""
    params = load_params(args.params)
    train.make_estimator(
        params.data.task, params.model.family, params.model.seed, params.model.params
    )
    print(
        f"{args.params}: valid ({params.data.task}, {params.model.family}, data {params.data.path})"
    )


@command()
def cmd_prepare(args: argparse.Namespace) -> None:
    """Validate the data and split it into train/test."""
    params = load_params(args.params)
    frame = load(params.data)
    production = load_production(PRODUCTION_FILE, list(frame.columns), params.data)
    train_rows, test_rows = split_with_production(frame, production, params)
    write_csv(train_rows, TRAIN_FILE)
    write_csv(test_rows, TEST_FILE)
    print(
        f"prepared {len(train_rows)} train and {len(test_rows)} test rows from {params.data.path}"
        f" ({len(frame)} rows) and {PRODUCTION_FILE} ({len(production)} labelled production rows)"
    )


@command(
    rows=dict(required=True, help="CSV of labelled production rows (the quality check's output)")
)
def cmd_add_production_rows(args: argparse.Namespace) -> None:
    """Add labelled production rows to the training data, one row per prediction id."""
    params = load_params(args.params)
    new = read_production(Path(args.rows), params.data)
    if new is None:
        print(f"{args.rows} has no labelled rows: {PRODUCTION_FILE} is unchanged")
        return
    existing = read_production(PRODUCTION_FILE, params.data)
    combined = merge_production(existing, new)
    write_csv(combined, PRODUCTION_FILE)
    added = len(combined) - (0 if existing is None else len(existing))
    print(f"{PRODUCTION_FILE}: {len(combined)} rows, {added} new from {args.rows}")


@command()
def cmd_train(args: argparse.Namespace) -> None:
    """Fit the model pipeline."""
    params, rows = load_params(args.params), read_csv(TRAIN_FILE)
    pipeline, schema = train.fit(rows, params)
    # Each file replaces the previous one only once fully written.
    write_model(pipeline, MODEL_FILE)
    write_json(SCHEMA_FILE, schema.to_dict())
    test_predictions = reference.predictions_of(pipeline, schema, read_csv(TEST_FILE))
    write_csv(test_predictions, REFERENCE_PREDICTIONS_FILE)
    summary = reference.reference(schema.task, test_predictions[reference.PREDICTION])
    write_json(REFERENCE_FILE, summary)
    dropped = f"; dropped {', '.join(schema.dropped)}" if schema.dropped else ""
    print(
        f"trained {params.model.family} ({params.data.task}) on {len(rows)} rows: "
        f"{len(schema.numeric)} numeric, {len(schema.categorical)} categorical, "
        f"{len(schema.high_cardinality)} high-cardinality columns{dropped}"
    )


@command()
def cmd_evaluate(args: argparse.Namespace) -> None:
    """Write metrics.json and plots/."""
    model, schema = read_model(MODEL_FILE), load_schema(SCHEMA_FILE)
    scores, plots = evaluate.evaluate(model, schema, read_csv(TEST_FILE))
    # Plots of the other task (an earlier run's) are removed.
    replace_csv_files(PLOTS_DIR, plots, float_format="%.6g")
    write_json(METRICS_FILE, scores)
    print("metrics: " + ", ".join(f"{name}={value:.4f}" for name, value in scores.items()))


@command(
    base=dict(default="main", help="git revision to compare with"),
    base_name=dict(help="how to call the base in the report (default: --base)"),
    output=dict(help="write the report here (default: print it)"),
)
def cmd_compare(args: argparse.Namespace) -> None:
    """Compare metrics, params, data and plots with a base git revision (Markdown)."""
    report = build_report(
        args.base, args.base_name, load_params(args.params).evaluate.primary_metric
    )
    if args.output:
        write_text(args.output, report)
    print(
        f"wrote {args.output} (compared with {args.base_name or args.base})"
        if args.output
        else report
    )


@command(
    current=dict(help="current data (default: drift.current, else data.path)"),
    reference=dict(help="reference data (default: drift.reference)"),
    out=dict(help="output folder (default: drift.output_dir)"),
    no_html=dict(action="store_true", help="skip the Evidently HTML report"),
    sources=dict(action="store_true", help="print the paths to refresh, then exit"),
)
def cmd_drift(args: argparse.Namespace) -> int:
    """Compare current data with the training data (exit 0 no drift, 1 drift, 2 error)."""
    from .drift import check

    params = load_params(args.params)
    if args.sources:  # what the scheduled workflow refreshes with `dvc update` (when imports)
        sources = [params.drift.current or params.data.path, params.data.path]
        print("\n".join(dict.fromkeys(map(str, sources))))
        return 0
    out_dir = Path(args.out or params.drift.output_dir)
    summary, snapshot = check(params, args.current, args.reference)
    save_report(out_dir, summary, None if args.no_html else snapshot)
    return _outcome(out_dir, summary, _drift_line(summary))


def save_report(out_dir: Path, summary: DriftSummary | QualitySummary, snapshot: Any) -> None:
    """A check's summary.json, summary.md and (with a snapshot) Evidently's report.html; an
    older report.html goes, so the folder never mixes two runs."""
    html = out_dir / DRIFT_REPORT_HTML
    html.unlink(missing_ok=True)
    if snapshot is not None:
        with atomic_path(html) as tmp:
            snapshot.save_html(str(tmp))
        summary.report = str(html)
    write_json(out_dir / DRIFT_SUMMARY_JSON, summary.to_dict())
    write_text(out_dir / DRIFT_SUMMARY_MD, summary.to_markdown())


def _outcome(
    out_dir: Path, summary: DriftSummary | QualitySummary, line: str, *more_files: str
) -> int:
    """Prints the error, or the verdict's ``line``, the findings and the files written; returns
    the exit code."""
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return summary.exit_code
    print(line)
    for finding in summary.findings:
        print(f"  {finding.severity}: {finding.message}")
    files = [DRIFT_SUMMARY_MD, DRIFT_SUMMARY_JSON] + [DRIFT_REPORT_HTML] * bool(summary.report)
    files += more_files
    print(f"report: {out_dir}/ ({', '.join(files)})")
    return summary.exit_code


def _drift_line(summary: DriftSummary) -> str:
    """One line: the verdict, drifted columns and schema errors."""
    verdict = "DRIFT" if summary.exit_code else "no drift"
    line = (
        f"{verdict}: {summary.drifted_columns} of {summary.columns_checked} columns drifted "
        f"({summary.drifted_share:.0%}; dataset drift at >= {summary.drift_share_threshold:.0%})"
    )
    errors = sum(finding.severity == "error" for finding in summary.findings)
    return line + (f"; {errors} schema error(s)" if errors else "")


@command(
    now=dict(help="end of the look-back window, ISO 8601 (default: now)"),
    out=dict(help="output folder (default: quality.output_dir)"),
    no_html=dict(action="store_true", help="skip the Evidently HTML report"),
)
def cmd_quality(args: argparse.Namespace) -> int:
    """Grade logged predictions with the labels that arrived (exit 0 passed or not enough labels,
    1 failed, 2 error)."""
    from .quality import check, write_rows

    params = load_params(args.params)
    out_dir = Path(args.out or params.quality.output_dir)
    labelled = out_dir / QUALITY_LABELLED_CSV
    labelled.unlink(missing_ok=True)  # never the rows of an earlier run
    summary, snapshot, rows = check(params, _utc(args.now))
    if rows is not None:
        write_rows(rows, labelled)
        summary.labelled_rows = str(labelled)
    save_report(out_dir, summary, None if args.no_html else snapshot)
    written = [labelled.name] if rows is not None else []
    return _outcome(out_dir, summary, _quality_line(summary), *written)


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"--now {text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)"
        raise UserError(message) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _quality_line(summary: QualitySummary) -> str:
    """One line: the verdict, the labelled rows, the failed metrics."""
    counts = summary.counts
    labelled = (
        f"{counts.labelled:,} labelled of {counts.in_window:,} predictions in the window "
        f"({counts.coverage:.1%} coverage)"
    )
    if summary.verdict == "not_enough_labels":
        return (
            f"not enough labels: {labelled}; quality.min_labelled_rows is "
            f"{summary.min_labelled_rows:,}. No verdict."
        )
    if summary.failed:
        failed = ", ".join(
            f"{name} {summary.metrics[name].value:.4g} (worst acceptable "
            f"{summary.metrics[name].bound:.4g})"
            for name in summary.failed
        )
        return f"QUALITY FAILED: {failed}; {labelled}"
    return f"quality passed: {labelled}"


@command(
    drift=dict(action=argparse.BooleanOptionalAction, default=False, help="shift the data or not"),
    seed=dict(type=int, default=0, help="random seed (default: 0)"),
    rows=dict(type=int, help="rows to write (default: as many as the source)"),
    shift=dict(type=float, default=1.0, help="shift in sd (default 1)"),
    source=dict(help="data to sample (default: drift.reference)"),
    out=dict(help="where to write (default: drift.current, else data.path)"),
)
def cmd_simulate_current(args: argparse.Namespace) -> None:
    """Write a demo current dataset sampled from the reference, shifted with --drift."""
    from .drift import simulate_current

    params = load_params(args.params)
    source = Path(args.source or params.drift.reference)
    if not source.exists() and source == params.drift.reference:
        source = params.data.path  # not trained yet: sample the raw data
    frame = simulate_current(
        read_csv(source, params.data.sep),
        drift=args.drift,
        seed=args.seed,
        rows=args.rows,
        shift=args.shift,
        exclude=(params.data.target,),
    )
    out = Path(args.out or params.drift.current or params.data.path)
    write_frame(frame, out, params.data.sep)
    kind = "same distribution (--no-drift)"
    if args.drift:
        kind = f"shifted (--drift, {args.shift} sd)"
    print(f"wrote {out}: {len(frame)} rows sampled from {source}, {kind}, seed {args.seed}")


@command(
    url=dict(default="http://127.0.0.1:8000", help="the model server (default: %(default)s)"),
    rows=dict(type=int, default=1000, help="records to send (default: %(default)s)"),
    batch=dict(type=int, default=20, help="records per request (default: %(default)s)"),
    wrong=dict(type=float, default=0.0, help="share of wrong labels (0.3: a degraded model)"),
    labelled=dict(type=float, default=0.8, help="share of predictions labelled (default: 0.8)"),
    seed=dict(type=int, default=0, help="random seed (default: 0)"),
    out=dict(help="labels file to write (default: a new CSV in quality.labels)"),
)
def cmd_simulate_traffic(args: argparse.Namespace) -> None:
    """Send test-split rows to a running server; write the labels that arrive for them."""
    from .traffic import labels, send, wait_until_ready

    params = load_params(args.params)
    out = Path(args.out or _new_labels_file(params.quality.labels))
    rows = read_csv(TEST_FILE).sample(n=args.rows, replace=True, random_state=args.seed)
    url = args.url.rstrip("/")
    wait_until_ready(url)
    ids = send(rows.reset_index(drop=True), params.data.target, url, args.batch)
    truth = rows[params.data.target].reset_index(drop=True)
    arrived = labels(truth, ids, params.data.task, args.wrong, args.labelled, args.seed)
    write_csv(arrived, out)
    print(
        f"sent {len(ids)} records to {url}; wrote {len(arrived)} labels ({args.wrong:.0%} wrong) "
        f"to {out}"
    )


def _new_labels_file(folder: str) -> Path:
    if "://" in folder:
        raise UserError(f"quality.labels is {folder}, not a local folder: give --out FILE")
    return Path(folder) / f"labels-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv"


@command(
    base=dict(default="HEAD", help="git revision the model is compared with"),
    base_name=dict(default="main", help="its name in the text"),
    run_url=dict(help="link to the workflow run (report artifacts)"),
    out=dict(default=str(RETRAIN_PR_BODY), help="where to write the body"),
    trigger=dict(
        choices=("drift", "quality", "drift-labelled"),
        default="drift",
        help="why: drift (default), quality below threshold, or drift with labelled rows",
    ),
)
def cmd_retrain_pr(args: argparse.Namespace) -> None:
    """Title (printed) and body (written to --out) of the scheduled check's retraining PR."""
    params = load_params(args.params)
    summaries = [
        read_text(params.quality.output_dir / DRIFT_SUMMARY_MD),
        read_text(params.drift.output_dir / DRIFT_SUMMARY_MD),
    ]
    title, body = retrain_pull_request(
        params,
        args.base,
        args.base_name,
        args.run_url,
        [summary for summary in summaries if summary],
        args.trigger,
    )
    write_text(args.out, body)
    print(title)


@command(
    host=dict(default=os.environ.get("HOST", "0.0.0.0"), help="default: $HOST or 0.0.0.0"),
    port=dict(type=int, default=int(os.environ.get("PORT", "8000")), help="default: $PORT or 8000"),
    model=dict(dest="model_path", type=Path, help=f"default: $MODEL_PATH or {MODEL_FILE}"),
    schema=dict(dest="schema_path", type=Path, help=f"default: $SCHEMA_PATH or {SCHEMA_FILE}"),
    max_batch_rows=dict(
        type=int, help="most records per request (default: $MAX_BATCH_ROWS or 10000)"
    ),
    prediction_log=dict(
        help="where every prediction is logged: -, a folder, or s3:// gs:// az:// "
        "(default: $PREDICTION_LOG; docs/prediction-log.md)"
    ),
    fast_path=dict(
        action=argparse.BooleanOptionalAction, help="forests: sum the trees without joblib (on)"
    ),
    access_log=dict(
        action=argparse.BooleanOptionalAction,
        help="one JSON line per request on stderr (default: $ACCESS_LOG, off)",
    ),
)
def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the model over HTTP (POST /predict, /health, /ready, /metrics, /version)."""
    from .serve import Settings, run

    names = ("model_path", "schema_path", "max_batch_rows", "prediction_log", "fast_path")
    names += ("access_log",)
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    settings = dataclasses.replace(Settings.from_env(), **overrides)
    run(args.host, args.port, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--params", default=str(PARAMS_FILE), help=f"params file (default: {PARAMS_FILE})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (function, options) in COMMANDS.items():
        subparser = commands.add_parser(name, help=function.__doc__.splitlines()[0])
        for option, settings in options.items():
            subparser.add_argument("--" + option.replace("_", "-"), **settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][0](args) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

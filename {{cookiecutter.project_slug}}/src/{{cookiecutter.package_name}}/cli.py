"""Command line of the package: ``python -m <package> <command>`` (the Makefile and dvc.yaml use it).

Every expected failure (bad params, bad data, missing files) is printed as one line that
says what to fix, with exit code 2; outputs of earlier runs are left untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import UserError

PROCESSED = Path("data/processed")
SAMPLES = ("breast_cancer", "diabetes", "wine")


def cmd_sample_data(args: argparse.Namespace) -> None:
    """Write a small real dataset that ships with scikit-learn as a CSV."""
    from sklearn import datasets

    from .config import load_params
    from .io import atomic_path

    out = Path(args.out) if args.out else load_params(args.params).data.path
    name = args.dataset or out.stem
    if name not in SAMPLES:
        if not out.exists():
            raise UserError(
                f"{out} is missing and is not a bundled sample: get it with `dvc pull` (needs the DVC "
                f"remote) or copy it back; bundled datasets are {', '.join(SAMPLES)}"
            )
        raise UserError(f"no bundled dataset named {name!r}; choose one of: {', '.join(SAMPLES)}")
    if out.exists() and not args.force:
        print(f"{out} exists; leaving it as it is (use --force to rewrite)")
        return
    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    print(f"wrote {out}: {len(frame)} rows x {frame.shape[1]} columns ({name}, from scikit-learn)")


def cmd_check_params(args: argparse.Namespace) -> None:
    from .config import load_params
    from .train import make_estimator

    params = load_params(args.params)
    # Catch bad model.params before `dvc repro` starts replacing any output.
    make_estimator(params.data.task, params.model.family, params.model.seed, params.model.params)
    print(f"{args.params}: valid ({params.data.task}, {params.model.family}, data {params.data.path})")


def cmd_prepare(args: argparse.Namespace) -> None:
    from .config import load_params
    from .data import load
    from .io import atomic_path
    from .split import split

    params = load_params(args.params)
    train, test = split(load(params.data), params)
    for name, frame in (("train.csv", train), ("test.csv", test)):
        with atomic_path(PROCESSED / name) as tmp:
            frame.to_csv(tmp, index=False)
    print(f"prepared {len(train)} train and {len(test)} test rows from {params.data.path}")


def cmd_train(args: argparse.Namespace) -> None:
    from .config import load_params
    from .data import read_csv
    from .train import fit, save

    params = load_params(args.params)
    train = read_csv(PROCESSED / "train.csv")
    pipeline, schema = fit(train, params)
    save(pipeline, schema)
    dropped = f"; dropped {', '.join(schema.dropped)}" if schema.dropped else ""
    print(
        f"trained {params.model.family} ({params.data.task}) on {len(train)} rows: "
        f"{len(schema.numeric)} numeric, {len(schema.categorical)} categorical, "
        f"{len(schema.high_cardinality)} high-cardinality columns{dropped}"
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .data import read_csv
    from .evaluate import evaluate, save
    from .train import load_model

    pipeline, schema = load_model()
    scores, plots = evaluate(pipeline, schema, read_csv(PROCESSED / "test.csv"))
    save(scores, plots)
    print("metrics: " + ", ".join(f"{name}={value:.4f}" for name, value in scores.items()))


def cmd_compare(args: argparse.Namespace) -> None:
    """Markdown report: metrics, params and plots of the working tree vs a base git revision."""
    from .compare import build_report
    from .config import load_params
    from .io import write_text

    report = build_report(args.base, args.base_name, load_params(args.params).evaluate.primary_metric)
    if args.output:
        write_text(args.output, report)
        print(f"wrote {args.output} (compared with {args.base_name or args.base})")
    else:
        print(report)


def cmd_drift(args: argparse.Namespace) -> int:
    """Compare current data with the training data; exit 0 no drift, 1 drift, 2 error."""
    from .config import load_params
    from .drift import EXIT_ERROR, run_drift

    params = load_params(args.params)
    if args.sources:
        # What the scheduled workflow refreshes with `dvc update` (when they are imports).
        for path in dict.fromkeys([str(params.drift.current or params.data.path), str(params.data.path)]):
            print(path)
        return 0
    out_dir = Path(args.out or params.drift.output_dir)
    summary = run_drift(
        params,
        current=Path(args.current) if args.current else None,
        reference=Path(args.reference) if args.reference else None,
        out_dir=out_dir,
        html=not args.no_html,
    )
    if summary["verdict"] == "error":
        print(f"error: {summary['error']}", file=sys.stderr)
        return EXIT_ERROR
    errors = [f for f in summary["schema"]["findings"] if f["severity"] == "error"]
    print(
        f"{'DRIFT' if summary['exit_code'] else 'no drift'}: {summary['drifted_columns']} of "
        f"{summary['columns_checked']} columns drifted ({summary['drifted_share']:.0%}; dataset drift at "
        f">= {summary['drift_share_threshold']:.0%})" + (f"; {len(errors)} schema error(s)" if errors else "")
    )
    for finding in summary["schema"]["findings"]:
        print(f"  {finding['severity']}: {finding['message']}")
    print(f"report: {out_dir}/ (summary.md, summary.json{', report.html' if summary.get('report') else ''})")
    return summary["exit_code"]


def cmd_simulate_current(args: argparse.Namespace) -> None:
    """Write a demo "current" dataset sampled from the reference, shifted with --drift."""
    from .config import load_params
    from .data import read_csv
    from .drift import simulate_current, write_frame

    params = load_params(args.params)
    source = Path(args.source or params.drift.reference)
    if not source.exists() and source == params.drift.reference:
        source = params.data.path  # not trained yet: sample the raw data
    reference = read_csv(source, params.data.sep)
    frame = simulate_current(
        reference,
        drift=args.drift,
        seed=args.seed,
        rows=args.rows,
        shift=args.shift,
        exclude=(params.data.target,),
    )
    out = Path(args.out or params.drift.current or params.data.path)
    write_frame(frame, out, params.data.sep)
    kind = f"shifted (--drift, {args.shift} sd)" if args.drift else "same distribution (--no-drift)"
    print(f"wrote {out}: {len(frame)} rows sampled from {source}, {kind}, seed {args.seed}")


def cmd_serve(args: argparse.Namespace) -> None:
    """Run the HTTP model server (only serving dependencies are imported: no dvc, no evidently)."""
    import dataclasses

    from .serve import Settings, run

    settings = Settings.from_env()
    overrides = {
        "model_path": Path(args.model) if args.model else None,
        "schema_path": Path(args.schema) if args.schema else None,
        "max_batch_rows": args.max_batch_rows,
        "prediction_log": args.prediction_log,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    run(args.host, args.port, settings, access_log=args.access_log)


def cmd_retrain_pr(args: argparse.Namespace) -> None:
    """Title (printed) and body (written to --out) of the retraining pull request."""
    from .compare import retrain_pull_request
    from .config import load_params
    from .io import write_text

    title, body = retrain_pull_request(load_params(args.params), args.base, args.base_name, args.run_url)
    write_text(args.out, body)
    print(title)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], str]] = {
    "sample-data": (cmd_sample_data, "write a bundled scikit-learn dataset as CSV"),
    "check-params": (cmd_check_params, "validate params.yaml"),
    "prepare": (cmd_prepare, "validate the data and split it into train/test"),
    "train": (cmd_train, "fit the model pipeline"),
    "evaluate": (cmd_evaluate, "write metrics.json and plots/"),
    "compare": (cmd_compare, "compare metrics, params and plots with a base git revision (Markdown)"),
    "drift": (cmd_drift, "compare current data with the training data (exit 0 no drift, 1 drift, 2 error)"),
    "simulate-current": (cmd_simulate_current, "write a demo current dataset, with or without drift"),
    "retrain-pr": (cmd_retrain_pr, "title and body of the retraining pull request (drift workflow)"),
    "serve": (cmd_serve, "serve the model over HTTP (POST /predict, /health, /ready, /metrics, /version)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        if name == "sample-data":
            command.add_argument("--dataset", choices=SAMPLES, help="default: the stem of data.path")
            command.add_argument("--out", help="default: data.path from params.yaml")
            command.add_argument("--force", action="store_true", help="rewrite an existing file")
        if name == "compare":
            command.add_argument("--base", default="main", help="git revision to compare with")
            command.add_argument("--base-name", help="how to call the base in the report (default: --base)")
            command.add_argument("--output", help="write the report here (default: print it)")
        if name == "drift":
            command.add_argument("--current", help="current data (default: drift.current, else data.path)")
            command.add_argument("--reference", help="reference data (default: drift.reference)")
            command.add_argument("--out", help="output folder (default: drift.output_dir)")
            command.add_argument("--no-html", action="store_true", help="skip the Evidently HTML report")
            command.add_argument(
                "--sources", action="store_true", help="print the paths to refresh, then exit"
            )
        if name == "serve":
            command.add_argument(
                "--host", default=os.environ.get("HOST", "0.0.0.0"), help="default: $HOST or 0.0.0.0"
            )
            command.add_argument(
                "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="default: $PORT or 8000"
            )
            command.add_argument("--model", help="model file (default: $MODEL_PATH or models/model.skops)")
            command.add_argument("--schema", help="schema file (default: $SCHEMA_PATH or models/schema.json)")
            command.add_argument(
                "--max-batch-rows",
                type=int,
                help="records allowed per request (default: $MAX_BATCH_ROWS or 10000)",
            )
            command.add_argument(
                "--prediction-log",
                help="JSON-lines file (or -) logging every prediction (default: $PREDICTION_LOG, off)",
            )
            command.add_argument("--access-log", action="store_true", help="log every request")
        if name == "retrain-pr":
            command.add_argument("--base", default="HEAD", help="git revision the model is compared with")
            command.add_argument("--base-name", default="main", help="its name in the text")
            command.add_argument("--run-url", help="link to the workflow run (drift report artifact)")
            command.add_argument("--out", default="reports/drift/pr-body.md", help="where to write the body")
        if name == "simulate-current":
            group = command.add_mutually_exclusive_group()
            group.add_argument("--drift", dest="drift", action="store_true", help="shift the data")
            group.add_argument("--no-drift", dest="drift", action="store_false", help="no shift (default)")
            command.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
            command.add_argument("--rows", type=int, help="rows to write (default: as many as the source)")
            command.add_argument("--shift", type=float, default=1.0, help="shift in sd (default 1)")
            command.add_argument("--source", help="data to sample (default: drift.reference)")
            command.add_argument("--out", help="where to write (default: drift.current, else data.path)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = COMMANDS[args.command][0](args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())

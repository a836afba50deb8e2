"""Every file the project reads or writes, named once: the commands, the stages and the readers
use these names. ``dvc.yaml`` and ``params.yaml`` state the same paths for people and DVC;
``tests/test_paths.py`` checks that they agree with this module."""

from __future__ import annotations

from pathlib import Path

PARAMS_FILE = Path("params.yaml")

# prepare: the validated data, split in two
PROCESSED_DIR = Path("data/processed")
TRAIN_FILE = PROCESSED_DIR / "train.csv"
TEST_FILE = PROCESSED_DIR / "test.csv"
# prepare also reads: labelled production rows (features, target, prediction_id), tracked by DVC;
# the retraining loop adds to it. An empty file: no production rows yet.
PRODUCTION_FILE = Path("data/production/labelled.csv")

# train: the model and what it expects
MODEL_FILE = Path("models/model.skops")
SCHEMA_FILE = Path("models/schema.json")
# what the model predicted on the test split (monitoring's reference; travels with the model)
REFERENCE_FILE = Path("models/reference.json")
# the same predictions row by row (the quality check's reference): the target, the prediction
# and, for classification, one probability column per class
REFERENCE_PREDICTIONS_FILE = Path("models/reference_predictions.csv")

# evaluate: the scores and the plot data of each task
METRICS_FILE = Path("metrics.json")
PLOTS_DIR = Path("plots")
PLOT_FILES = {
    "classification": ("confusion.csv", "roc.csv"),
    "regression": ("predictions.csv", "residuals.csv"),
}

# drift: the default folder (drift.output_dir) and the files written in it
DRIFT_DIR = Path("reports/drift")
DRIFT_SUMMARY_JSON = "summary.json"
DRIFT_SUMMARY_MD = "summary.md"
DRIFT_REPORT_HTML = "report.html"
RETRAIN_PR_BODY = DRIFT_DIR / "pr-body.md"

# quality: where the local demo server logs and labels land (quality.predictions, quality.labels),
# the default folder (quality.output_dir; the file names of drift's, plus the labelled rows)
PREDICTION_LOG_DIR = Path("logs/predictions")
LABELS_DIR = Path("logs/labels")
QUALITY_DIR = Path("reports/quality")
QUALITY_LABELLED_CSV = "labelled.csv"


def plot_files(task: str) -> list[Path]:
    """The plot data that evaluation writes for ``task``."""
    return [PLOTS_DIR / name for name in PLOT_FILES[task]]


def all_plot_files() -> list[Path]:
    """The plot data of every task (a comparison reads those that exist)."""
    return [path for task in PLOT_FILES for path in plot_files(task)]

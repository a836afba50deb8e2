"""Typed settings from params.yaml: one model per section. An unknown key or a bad value stops
the run with a message that names the key (for example ``data.task``) and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import UserError
from .paths import DRIFT_DIR, LABELS_DIR, PARAMS_FILE, PREDICTION_LOG_DIR, QUALITY_DIR, TRAIN_FILE


@dataclass(frozen=True)
class Metric:
    """A score that evaluation writes to metrics.json and a comparison marks better or worse."""

    name: str
    task: str
    lower_is_better: bool = False


# The one list of metrics: evaluation computes these, primary_metric names one of them, and the
# pull-request report reads the direction from here.
METRICS = (
    Metric("accuracy", "classification"),
    Metric("f1", "classification"),
    Metric("precision", "classification"),
    Metric("recall", "classification"),
    Metric("roc_auc", "classification"),
    Metric("log_loss", "classification", lower_is_better=True),
    Metric("r2", "regression"),
    Metric("rmse", "regression", lower_is_better=True),
    Metric("mae", "regression", lower_is_better=True),
)


def metric_names(task: str) -> tuple[str, ...]:
    return tuple(metric.name for metric in METRICS if metric.task == task)


def lower_is_better(name: str) -> bool:
    """The direction of a metric; ``name`` may be nested in metrics.json (``test.rmse``)."""
    short = name.rsplit(".", 1)[-1]
    return any(metric.name == short and metric.lower_is_better for metric in METRICS)


def _none_is_empty(value: Any) -> Any:
    """A section key written with no value (``columns:``) means an empty mapping."""
    return {} if value is None else value


NoneIsEmpty = BeforeValidator(_none_is_empty)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataParams(_Section):
    path: Path
    target: str = Field(min_length=1)
    task: Literal["classification", "regression"]
    sep: str = Field(default=",", min_length=1)
    drop_columns: list[str] = Field(default_factory=list)


class SplitParams(_Section):
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 42


class FeatureParams(_Section):
    max_categories: int = Field(default=20, ge=2)
    max_unique_ratio: float = Field(default=0.9, gt=0.0, le=1.0)


class ModelParams(_Section):
    family: Literal["random_forest", "gradient_boosting", "linear"]
    seed: int = 42
    params: Annotated[dict[str, Any], NoneIsEmpty] = {}


class EvaluateParams(_Section):
    primary_metric: str


DriftMethod = Literal["auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]


class DriftColumnParams(_Section):
    """One column's test (drift.columns); in the drift section itself: the default test."""

    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)


class DriftParams(DriftColumnParams):
    """The drift check; each key is explained in params.yaml's drift section."""

    current: Path | None = None  # None: data.path
    format: Literal["auto", "csv", "parquet", "predictions"] = "auto"
    reference: Path = TRAIN_FILE
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    columns: Annotated[dict[str, DriftColumnParams], NoneIsEmpty] = {}
    # Over 1000, so that Evidently picks the same methods as on all rows.
    sample_rows: int = Field(default=50_000, ge=1_001)
    seed: int = 42
    output_dir: Path = DRIFT_DIR


class QualityThreshold(_Section):
    """One metric's bounds (quality.thresholds): ``min`` for a metric where higher is better,
    ``max`` where lower is better, and ``max_drop``, the largest worsening from metrics.json."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0.0)


class QualityParams(_Section):
    """The model-quality check; each key is explained in params.yaml's quality section."""

    predictions: str = str(PREDICTION_LOG_DIR)  # a folder, a file or a URL (s3://, gs://, az://)
    labels: str = str(LABELS_DIR)
    window_days: float = Field(default=30, gt=0)
    min_labelled_rows: int = Field(default=100, ge=1)
    thresholds: Annotated[dict[str, QualityThreshold], NoneIsEmpty] = {}
    sample_rows: int = Field(default=50_000, ge=1_000)
    seed: int = 42
    output_dir: Path = QUALITY_DIR

    def check_thresholds(self, task: str) -> None:
        """Each threshold names a metric of ``task`` and a bound that fits its direction."""
        allowed = metric_names(task)
        for name, bounds in self.thresholds.items():
            key = f"quality.thresholds.{name}"
            if name not in allowed:
                raise UserError(
                    f"params.yaml: {key}: {name!r} is not a {task} metric; "
                    f"use one of: {', '.join(allowed)}"
                )
            wrong, right = ("min", "max") if lower_is_better(name) else ("max", "min")
            if getattr(bounds, wrong) is not None:
                direction = "lower" if wrong == "min" else "higher"
                raise UserError(
                    f"params.yaml: {key}.{wrong}: {direction} {name} is better, so its bound is "
                    f"{right} (the worst acceptable value): write {right}: instead"
                )
            if bounds.min is None and bounds.max is None and bounds.max_drop is None:
                raise UserError(
                    f"params.yaml: {key} sets no bound: give {right} and/or max_drop, "
                    "or remove the entry"
                )


class Params(_Section):
    data: DataParams
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    model: ModelParams
    evaluate: EvaluateParams
    # Sections owned by other commands (serving) are validated by those commands.
    serve: dict[str, Any] = Field(default_factory=dict)
    drift: DriftParams = DriftParams()
    quality: QualityParams = QualityParams()

    def model_post_init(self, __context: Any) -> None:
        self.quality.check_thresholds(self.data.task)
        allowed = metric_names(self.data.task)
        if self.evaluate.primary_metric not in allowed:
            raise UserError(
                f"params.yaml: evaluate.primary_metric is {self.evaluate.primary_metric!r}, "
                f"which is not a {self.data.task} metric; use one of: {', '.join(allowed)}"
            )


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check its spelling or remove it)"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise UserError naming every bad key."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of sections (data, split, model, ...)")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(err) for err in exc.errors())
        raise UserError(f"{source} has invalid values:\n  {lines}") from None


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run commands from the project root")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    return parse_params(raw, str(path))

"""Typed settings from params.yaml: one model per section. An unknown key or a bad value stops
the run with a message that names the key (for example ``data.task``) and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import UserError

PARAMS_FILE = Path("params.yaml")

CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")


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
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class EvaluateParams(_Section):
    primary_metric: str


DriftMethod = Literal["auto", "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]


class DriftColumnParams(_Section):
    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)


class DriftParams(_Section):
    """``drift`` in params.yaml: where current data comes from and when it counts as drifted."""

    # Current data: a CSV/Parquet file (e.g. a `dvc import-url` refreshed by `dvc update`) or the
    # server's JSON-lines prediction logs (a file or folder). None: data.path, the training source.
    current: Path | None = None
    format: Literal["auto", "csv", "parquet", "predictions"] = "auto"
    # What the deployed model was trained on (an output of the prepare stage, pinned by dvc.lock).
    reference: Path = Path("data/processed/train.csv")
    # Dataset drift when at least this share of the checked columns drifted.
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    # Per-column method and threshold for every column; `auto` picks Evidently's default.
    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)
    columns: dict[str, DriftColumnParams] = Field(default_factory=dict)
    # Evidently runs on a seeded sample of at most this many rows per side (over 1000, so that
    # it picks the same default methods as on all rows).
    sample_rows: int = Field(default=50_000, ge=1_001)
    seed: int = 42
    output_dir: Path = Path("reports/drift")

    @field_validator("columns", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Params(_Section):
    data: DataParams
    split: SplitParams = SplitParams()
    features: FeatureParams = FeatureParams()
    model: ModelParams
    evaluate: EvaluateParams
    # Sections owned by other commands (serving) are validated by those commands.
    serve: dict[str, Any] = Field(default_factory=dict)
    drift: DriftParams = DriftParams()

    def model_post_init(self, __context: Any) -> None:
        allowed = CLASSIFICATION_METRICS if self.data.task == "classification" else REGRESSION_METRICS
        if self.evaluate.primary_metric not in allowed:
            raise UserError(
                f"params.yaml: evaluate.primary_metric is {self.evaluate.primary_metric!r}, "
                f"which is not a {self.data.task} metric; use one of: {', '.join(allowed)}"
            )


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check its spelling or remove it)"
    if kind == "missing":
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

"""Typed settings from params.yaml: one model per section. An unknown key or a bad value stops
the run with a message that names the key (for example ``data.task``) and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import UserError

PARAMS_FILE = Path("params.yaml")

METRICS = {
    "classification": ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
NoneIsEmpty = BeforeValidator(lambda value: {} if value is None else value)  # `key:` with no value


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


class DriftColumnParams(_Section):  # one column's test (drift.columns); the drift section's: the default
    method: DriftMethod = "auto"
    threshold: float | None = Field(default=None, gt=0.0)


class DriftParams(DriftColumnParams):  # each key is explained in params.yaml's drift section
    current: Path | None = None  # None: data.path
    format: Literal["auto", "csv", "parquet", "predictions"] = "auto"
    reference: Path = Path("data/processed/train.csv")
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    columns: Annotated[dict[str, DriftColumnParams], NoneIsEmpty] = {}
    sample_rows: int = Field(default=50_000, ge=1_001)  # over 1000: Evidently's methods for all rows
    seed: int = 42
    output_dir: Path = Path("reports/drift")


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
        allowed = METRICS[self.data.task]
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

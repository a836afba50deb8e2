"""The drift check: verdicts, schema findings, sources, sampling, outputs and exit codes."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from {{ cookiecutter.package_name }} import drift
from {{ cookiecutter.package_name }}.cli import main, save_report
from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.drift import simulate_current
from {{ cookiecutter.package_name }}.drift_sources import read_source
from {{ cookiecutter.package_name }}.drift_summary import EXIT_DRIFT, EXIT_OK
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.paths import SCHEMA_FILE

from conftest import make_frame, make_params

# Left out of `make test-quick` (git pre-push): each test runs Evidently. `make test` and CI run it.
pytestmark = pytest.mark.slow


def run_drift(params, schema_file: Path | None = SCHEMA_FILE, html: bool = True) -> dict:
    """What the drift command does: the check, then its files; the summary as in summary.json."""
    summary, snapshot = drift.check(params, schema_file=schema_file)
    save_report(params.drift.output_dir, summary, snapshot if html else None)
    return summary.to_dict()


def drift_params(tmp_path: Path, **drift) -> object:
    raw = make_params("classification", path=str(tmp_path / "data.csv"))
    raw["drift"] = {
        "reference": str(tmp_path / "reference.csv"),
        "current": str(tmp_path / "current.csv"),
        "output_dir": str(tmp_path / "reports"),
        **drift,
    }
    return parse_params(raw)


def check(
    tmp_path: Path, reference: pd.DataFrame, current: pd.DataFrame | None, html=False, **drift
):
    """Run the check on two frames (no model schema: kinds come from the reference)."""
    reference.to_csv(tmp_path / "reference.csv", index=False)
    if current is not None:
        current.to_csv(tmp_path / "current.csv", index=False)
    return run_drift(drift_params(tmp_path, **drift), schema_file=None, html=html)


def mixed(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """20 numeric columns of assorted shapes + 1 categorical: the benchmark's layout."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(20):
        move = shift if i < 12 else 0.0
        shape = i % 4
        if shape == 0:
            values = rng.normal(loc=move, size=rows)
        elif shape == 1:
            values = rng.lognormal(mean=move, sigma=0.5, size=rows)
        elif shape == 2:
            values = rng.uniform(move, 1 + move, size=rows)
        else:
            values = rng.poisson(3 + 3 * move, size=rows).astype(float)
        columns[f"num_{i:02d}"] = values
    weights = [0.4, 0.3, 0.2, 0.1] if not shift else [0.1, 0.2, 0.3, 0.4]
    columns["colour"] = rng.choice(["red", "green", "blue", "grey"], size=rows, p=weights)
    return pd.DataFrame(columns)


def evidently_on(
    reference: pd.DataFrame, current: pd.DataFrame, categorical: list[str], **options
) -> dict:
    """Plain Evidently on all rows: {column: (score, threshold, method)}."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = [c for c in reference.columns if c not in categorical]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(**options)]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    return {
        m["config"]["column"]: (
            float(m["value"]),
            float(m["config"]["threshold"]),
            m["config"]["method"],
        )
        for m in snapshot.dict()["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }


# ---------------------------------------------------------------------------- drift verdicts
def test_simulated_current_alarms_only_with_drift(tmp_path):
    """`simulate-current --no-drift` (resampled reference) does not alarm; `--drift` does."""
    data = load_breast_cancer(as_frame=True).frame
    for seed in range(2):
        same = simulate_current(data, drift=False, seed=seed, rows=300, exclude=("target",))
        assert check(tmp_path, data, same)["exit_code"] == EXIT_OK
        moved = simulate_current(data, drift=True, seed=seed, rows=300, exclude=("target",))
        assert check(tmp_path, data, moved)["exit_code"] == EXIT_DRIFT


def test_shift_is_detected_with_scores_and_methods(tmp_path):
    summary = check(tmp_path, mixed(3000, 1), mixed(3000, 2, shift=1.0))

    assert summary["exit_code"] == EXIT_DRIFT and summary["verdict"] == "drift"
    assert summary["dataset_drift"] is True
    assert summary["drifted_share"] == pytest.approx(summary["drifted_columns"] / 21)
    assert summary["columns"]["num_00"]["drift"] is True
    assert summary["columns"]["num_19"]["drift"] is False
    assert summary["columns"]["colour"] == {
        **summary["columns"]["colour"],
        "drift": True,
        "method": "jensenshannon",
        "stat": "distance",
        "type": "categorical",
    }
    assert summary["columns"]["num_00"]["method"] == "wasserstein"


def test_small_data_uses_p_value_tests(tmp_path):
    summary = check(tmp_path, mixed(500, 1), mixed(400, 2))
    assert summary["columns"]["num_00"] == {
        **summary["columns"]["num_00"],
        "method": "ks",
        "stat": "p_value",
    }
    assert summary["columns"]["colour"]["method"] == "chisquare"


def test_drift_share_and_per_column_settings(tmp_path):
    reference, current = mixed(3000, 1), mixed(3000, 2, shift=1.0)
    # 13 of 21 drift: dataset drift at 0.5, not at 0.9.
    assert check(tmp_path, reference, current, drift_share=0.9)["dataset_drift"] is False
    result = check(
        tmp_path,
        reference,
        current,
        method="psi",
        columns={"num_00": {"method": "ks", "threshold": 0.01}, "colour": {"threshold": 0.99}},
    )
    columns = result["columns"]
    assert columns["num_01"]["method"] == "psi"
    assert columns["num_00"]["method"] == "ks" and columns["num_00"]["threshold"] == 0.01
    assert columns["colour"]["threshold"] == 0.99 and columns["colour"]["drift"] is False


def test_method_that_does_not_fit_the_column_is_a_params_error(tmp_path):
    columns = {"colour": {"method": "wasserstein"}}
    result = check(tmp_path, mixed(200, 1), mixed(200, 2), columns=columns)
    assert re.search(r"drift.columns.colour.method is 'wasserstein'.*categorical", result["error"])
    assert result["exit_code"] == 2
    assert json.loads((tmp_path / "reports" / "summary.json").read_text())["verdict"] == "error"


def test_bad_drift_params_name_the_key():
    raw = make_params("classification")
    raw["drift"] = {"method": "magic", "drift_share": 2}
    with pytest.raises(UserError) as error:
        parse_params(raw)
    assert "drift.method" in str(error.value) and "drift.drift_share" in str(error.value)


def test_data_smaller_than_the_sample_gives_evidentlys_own_scores(tmp_path):
    """One Evidently run, on all rows: summary.json, report.html and plain Evidently agree
    (1e-6)."""
    reference, current = mixed(1500, 1), mixed(1200, 2, shift=0.1)
    overrides = {"num_01": {"method": "psi", "threshold": 0.2}, "colour": {"threshold": 0.05}}
    result = check(tmp_path, reference, current, html=True, columns=overrides)
    html = tmp_path / "reports" / "report.html"
    assert html.stat().st_size > 100_000 and result["report"] == str(html)
    assert result["current"] == {
        "source": str(tmp_path / "current.csv"),
        "rows": 1200,
        "sampled_rows": 1200,
    }
    theirs = evidently_on(
        reference,
        current,
        ["colour"],
        per_column_method={"num_01": "psi"},
        per_column_threshold={"num_01": 0.2, "colour": 0.05},
    )
    ours = result["columns"]
    assert set(theirs) == set(ours)
    for column, (score, threshold, _) in theirs.items():
        assert ours[column]["score"] == pytest.approx(score, abs=1e-6), column
        assert ours[column]["threshold"] == threshold
    assert ours["num_01"]["method"] == "psi" and ours["colour"]["threshold"] == 0.05


# ---------------------------------------------------------------------------- schema findings
def kinds_of(findings: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in findings:
        out.setdefault(finding["kind"], []).append(finding["column"])
    return out


def test_schema_findings_are_reported_not_raised(tmp_path):
    reference = mixed(500, 1)
    current = mixed(400, 2)
    current = current.drop(columns="num_03")
    current["num_04"] = "unknown"  # numbers became text
    current["num_05"] = np.nan  # all missing
    current.loc[:20, "colour"] = "purple"  # a category never seen
    current["new_column"] = 1.0
    summary = check(tmp_path, reference, current)

    found = kinds_of(summary["schema"]["findings"])
    assert found["missing_column"] == ["num_03"]
    assert found["changed_type"] == ["num_04"]
    assert found["all_missing"] == ["num_05"]
    assert found["unseen_categories"] == ["colour"]
    assert found["extra_column"] == ["new_column"]
    assert summary["schema"]["ok"] is False
    assert summary["exit_code"] == EXIT_DRIFT  # schema errors count as drift
    for column in ("num_03", "num_04", "num_05"):
        assert summary["columns"][column] == {
            **summary["columns"][column],
            "drift": True,
            "method": "schema",
        }
    messages = " ".join(f["message"] for f in summary["schema"]["findings"])
    assert "'num_03' is missing" in messages and "'purple'" in messages and "'unknown'" in messages
    markdown = (tmp_path / "reports" / "summary.md").read_text()
    assert "error (missing_column)" in markdown and "warning (unseen_categories)" in markdown


def test_a_few_bad_numbers_are_a_warning(tmp_path):
    current = mixed(400, 2).astype({"num_00": object})
    current.loc[:3, "num_00"] = "oops"
    result = check(tmp_path, mixed(500, 1), current)
    assert kinds_of(result["schema"]["findings"]) == {"invalid_values": ["num_00"]}
    assert result["exit_code"] == EXIT_OK


@pytest.mark.parametrize("content", ["", "num_00,colour\n"])
def test_empty_current_data_is_an_error_with_a_summary(tmp_path, monkeypatch, capsys, content):
    monkeypatch.chdir(tmp_path)
    mixed(300, 1)[["num_00", "colour"]].to_csv("reference.csv", index=False)
    Path("current.csv").write_text(content)
    write_params(tmp_path)
    assert main(["drift", "--no-html"]) == 2
    assert "is empty" in capsys.readouterr().err
    summary = json.loads(Path("reports/drift/summary.json").read_text())
    assert summary["verdict"] == "error" and summary["exit_code"] == 2
    assert kinds_of(summary["schema"]["findings"]) == {"empty": [None]}


def test_missing_current_file_is_an_error_that_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mixed(300, 1).to_csv("reference.csv", index=False)
    write_params(tmp_path)
    assert main(["drift"]) == 2
    err = capsys.readouterr().err
    assert "current data current.csv does not exist" in err and "simulate-current" in err
    assert json.loads(Path("reports/drift/summary.json").read_text())["verdict"] == "error"


def test_unreadable_current_data_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mixed(300, 1).to_csv("reference.csv", index=False)
    Path("current.csv").write_bytes(b"num_00,colour\n1.0,\xff\xfe\n")
    write_params(tmp_path)
    assert main(["drift", "--no-html"]) == 2
    assert "current.csv is not UTF-8 text" in capsys.readouterr().err


def test_an_unexpected_failure_exits_2_not_1(tmp_path, monkeypatch, capsys):
    """A bug must not read as drift (exit 1, which opens a retraining pull request)."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    mixed(300, 1).to_csv("reference.csv", index=False)
    mixed(300, 2).to_csv("current.csv", index=False)
    monkeypatch.setattr(drift, "check_schema", lambda *args: 1 / 0)
    assert main(["drift", "--no-html"]) == 2
    assert "the drift check failed: ZeroDivisionError" in capsys.readouterr().err
    assert json.loads(Path("reports/drift/summary.json").read_text())["verdict"] == "error"


def test_model_schema_decides_features_and_known_categories(tmp_path, monkeypatch):
    """With a trained model, the target and dropped id columns are not checked."""
    monkeypatch.chdir(tmp_path)
    make_frame("classification", rows=300).to_csv("data.csv", index=False)
    Path("params.yaml").write_text(yaml.safe_dump(make_params("classification")))
    assert [main([c]) for c in ("prepare", "train")] == [0, 0]
    current = make_frame("classification", rows=200, seed=5)
    current.to_csv("data.csv", index=False)
    result = run_drift(parse_params(make_params("classification")), html=False)
    assert set(result["columns"]) == {"x1", "x2", "colour", "city", "flag"}
    assert result["columns"]["flag"]["type"] == "numerical"
    assert result["exit_code"] == EXIT_OK


# ---------------------------------------------------------------------------- sources
def write_params(tmp_path: Path, **drift) -> None:
    raw = make_params("classification")
    raw["drift"] = {"reference": "reference.csv", "current": "current.csv", **drift}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))


def test_prediction_logs_in_all_accepted_shapes(tmp_path):
    reference = mixed(500, 1)
    current = mixed(300, 2)
    records = current.to_dict(orient="records")
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "a.jsonl", "w") as handle:
        for i, record in enumerate(records[:100]):
            entry = {
                "features": record,
                "prediction": 1,
                "timestamp": f"2026-01-01T00:00:{i % 60:02d}Z",
            }
            handle.write(json.dumps({**entry, "model_version": "abc"}) + "\n")
        handle.write("not json\n")
    (logs / "2026-01-02").mkdir()  # a subfolder, gzipped
    with gzip.open(logs / "2026-01-02" / "b.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"features": records[100:200], "prediction": [0] * 100}) + "\n")
        handle.write(json.dumps(records[200:]) + "\n")  # fallback: a plain list of feature dicts
    reference.to_csv(tmp_path / "reference.csv", index=False)
    result = run_drift(drift_params(tmp_path, current=str(logs)), schema_file=None, html=False)
    assert result["current"]["rows"] == 300
    assert result["columns_checked"] == 21
    assert kinds_of(result["schema"]["findings"]) == {"unreadable_log_lines": [None]}
    assert result["exit_code"] == EXIT_OK


def test_parquet_current_data(tmp_path):
    mixed(500, 1).to_csv(tmp_path / "reference.csv", index=False)
    mixed(300, 2, shift=1.0).to_parquet(tmp_path / "current.parquet")
    params = drift_params(tmp_path, current=str(tmp_path / "current.parquet"))
    assert run_drift(params, schema_file=None, html=False)["exit_code"] == EXIT_DRIFT


def test_sampling_is_seeded_and_bounded(tmp_path):
    reference, current = mixed(6000, 1), mixed(6000, 2, shift=0.5)
    full = check(tmp_path, reference, current)
    sampled = check(tmp_path, reference, current, sample_rows=2000)
    again = check(tmp_path, reference, current, sample_rows=2000)
    assert sampled == again
    assert sampled["current"] == {
        "source": str(tmp_path / "current.csv"),
        "rows": 6000,
        "sampled_rows": 2000,
    }
    assert sampled["dataset_drift"] == full["dataset_drift"]
    agree = sum(
        sampled["columns"][c]["drift"] == full["columns"][c]["drift"] for c in full["columns"]
    )
    assert agree / len(full["columns"]) >= 0.95
    assert "seeded uniform sample of at most 2,000 rows" in sampled["sampling"]["description"]
    assert "on all rows" in full["sampling"]["description"]


def test_sample_is_uniform_over_the_whole_file(tmp_path):
    """Rows come from every part of a file read in many blocks, not only its start."""
    pd.DataFrame({"i": range(300_000)}).to_csv(tmp_path / "big.csv", index=False)
    table, _ = read_source(tmp_path / "big.csv", "auto", ",", 3000, 7, "current")
    assert table.rows == 300_000 and len(table.sample) == 3000
    assert table.sample["i"].nunique() == 3000
    assert np.histogram(table.sample["i"], bins=3, range=(0, 300_000))[0].min() > 900


def test_csv_edge_cases_read_like_pandas(tmp_path):
    """Quoted fields with separators or line breaks, CRLF, blank lines, no final newline."""
    text = 'x,label\r\n1.5,"a, b"\r\n\r\n2.5,"line\nbreak"\r\n3.5,c'
    (tmp_path / "odd.csv").write_bytes(text.encode())
    table, _ = read_source(tmp_path / "odd.csv", "auto", ",", 1000, 0, "current")
    expected = pd.read_csv(tmp_path / "odd.csv")
    assert table.rows == len(expected) == 3
    assert sorted(table.sample["label"]) == sorted(expected["label"])
    assert sorted(table.sample["x"]) == [1.5, 2.5, 3.5]


# ---------------------------------------------------------------------------- outputs, CLI
def test_cli_exit_codes_and_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    mixed(600, 1).to_csv("reference.csv", index=False)
    mixed(400, 2).to_csv("current.csv", index=False)
    assert main(["drift", "--no-html"]) == 0
    assert capsys.readouterr().out.startswith("no drift: ")
    mixed(400, 3, shift=1.0).to_csv("current.csv", index=False)
    assert main(["drift", "--no-html"]) == 1
    assert capsys.readouterr().out.startswith("DRIFT:")
    summary = json.loads(Path("reports/drift/summary.json").read_text())
    assert {"dataset_drift", "drifted_share", "columns", "schema", "sampling"} <= set(summary)
    assert set(summary["columns"]["num_00"]) >= {
        "drift",
        "score",
        "method",
        "threshold",
        "current_rows",
    }
    assert (
        Path("reports/drift/summary.md")
        .read_text()
        .startswith("### Data drift check: **drift detected**")
    )
    assert not Path("reports/drift/report.html").exists()


def test_cli_sources_and_simulate_current(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    mixed(300, 1).to_csv("reference.csv", index=False)
    assert main(["drift", "--sources"]) == 0
    assert capsys.readouterr().out.split() == ["current.csv", "data.csv"]
    assert main(["simulate-current", "--drift", "--seed", "3", "--rows", "250"]) == 0
    assert len(pd.read_csv("current.csv")) == 250
    assert main(["drift", "--no-html"]) == 1
    assert main(["simulate-current", "--no-drift", "--seed", "3"]) == 0
    assert main(["drift", "--no-html"]) == 0
    assert main(["simulate-current", "--drift", "--out", "logs.jsonl"]) == 0
    assert main(["drift", "--no-html", "--current", "logs.jsonl"]) == 1

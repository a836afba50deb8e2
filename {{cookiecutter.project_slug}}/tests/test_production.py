"""Labelled production rows as training data: data/production/labelled.csv, read by the prepare
stage with data.path, one row per prediction id, split by a hash of the id."""

import uuid
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import SplitParams
from {{ cookiecutter.package_name }}.paths import PRODUCTION_FILE, TEST_FILE, TRAIN_FILE
from {{ cookiecutter.package_name }}.split import split_by_key

from conftest import make_frame


def production_rows(rows: int, seed: int) -> pd.DataFrame:
    """Rows as the quality check writes them: the features, the label and a prediction id."""
    frame = make_frame("classification", rows=rows, seed=seed)
    frame["prediction_id"] = [uuid.UUID(int=seed * 100_000 + i).hex for i in range(rows)]
    return frame


def prepared() -> tuple[bytes, bytes]:
    assert main(["prepare"]) == 0
    return TRAIN_FILE.read_bytes(), TEST_FILE.read_bytes()


@pytest.mark.parametrize("content", [None, "", "x1,label,prediction_id\n"])
def test_no_production_rows_leave_the_split_of_data_path_as_it_was(workdir, content):
    expected = prepared()
    if content is not None:
        PRODUCTION_FILE.parent.mkdir(parents=True)
        PRODUCTION_FILE.write_text(content)
    assert prepared() == expected


def test_production_rows_join_both_sides_and_data_path_rows_keep_theirs(workdir, capsys):
    prepared()
    plain_train, plain_test = pd.read_csv(TRAIN_FILE), pd.read_csv(TEST_FILE)
    PRODUCTION_FILE.parent.mkdir(parents=True)
    production_rows(200, seed=1).to_csv(PRODUCTION_FILE, index=False)
    assert main(["prepare"]) == 0
    assert "(200 labelled production rows)" in capsys.readouterr().out
    train, test = pd.read_csv(TRAIN_FILE), pd.read_csv(TEST_FILE)
    assert len(train) + len(test) == 120 + 200
    assert "prediction_id" not in train.columns
    # The rows of data.path first, exactly as without production rows; then production rows.
    pd.testing.assert_frame_equal(train.head(len(plain_train)), plain_train)
    pd.testing.assert_frame_equal(test.head(len(plain_test)), plain_test)
    added_to_test = len(test) - len(plain_test)
    assert 20 <= added_to_test <= 80  # about test_size (0.25) of 200


def test_a_row_keeps_its_side_when_rows_are_added():
    params = SplitParams(test_size=0.2, seed=7)
    first = production_rows(300, seed=1)
    more = pd.concat([production_rows(300, seed=2), first.iloc[::-1]], ignore_index=True)
    _, test_before = split_by_key(first, "prediction_id", params)
    _, test_after = split_by_key(more, "prediction_id", params)
    before = set(test_before["prediction_id"])
    assert before == set(test_after["prediction_id"]) & set(first["prediction_id"])
    assert 0.13 < len(test_after) / len(more) < 0.27
    # Another seed, another split.
    other = split_by_key(first, "prediction_id", SplitParams(test_size=0.2, seed=8))[1]
    assert set(other["prediction_id"]) != before


def test_adding_rows_keeps_one_row_per_id_and_the_newest_label(workdir, capsys):
    first = production_rows(30, seed=1)
    first.to_csv("batch1.csv", index=False)
    relabelled = first.iloc[:5].assign(label="no")
    batch2 = pd.concat([relabelled, production_rows(10, seed=2)], ignore_index=True)
    batch2.to_csv("batch2.csv", index=False)
    assert main(["add-production-rows", "--rows", "batch1.csv"]) == 0
    assert main(["add-production-rows", "--rows", "batch2.csv"]) == 0
    assert "40 rows, 10 new from batch2.csv" in capsys.readouterr().out
    stored = pd.read_csv(PRODUCTION_FILE, dtype={"prediction_id": str})
    assert stored["prediction_id"].is_unique and len(stored) == 40
    assert list(stored["prediction_id"]) == sorted(stored["prediction_id"])
    by_id = stored.set_index("prediction_id")["label"]
    assert set(by_id[relabelled["prediction_id"]]) == {"no"}
    # The same rows again, in another order: not one byte changes (so no new data version).
    before = PRODUCTION_FILE.read_bytes()
    batch2.iloc[::-1].to_csv("again.csv", index=False)
    assert main(["add-production-rows", "--rows", "again.csv"]) == 0
    assert PRODUCTION_FILE.read_bytes() == before


def test_prepare_keeps_the_last_row_of_a_duplicated_id(workdir):
    rows = production_rows(20, seed=1)
    rows = pd.concat([rows, rows.iloc[:3].assign(label="no")], ignore_index=True)
    PRODUCTION_FILE.parent.mkdir(parents=True)
    rows.to_csv(PRODUCTION_FILE, index=False)
    prepared()
    assert len(pd.read_csv(TRAIN_FILE)) + len(pd.read_csv(TEST_FILE)) == 120 + 20


def test_an_empty_batch_changes_nothing(workdir, capsys):
    Path("empty.csv").write_text("")
    assert main(["add-production-rows", "--rows", "empty.csv"]) == 0
    assert "has no labelled rows" in capsys.readouterr().out
    assert not PRODUCTION_FILE.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows.drop(columns="prediction_id"), "no column 'prediction_id'"),
        (lambda rows: rows.drop(columns="label"), "no column 'label'"),
        (lambda rows: rows.drop(columns="x2"), "missing: x2; not in data.csv: none"),
        (lambda rows: rows.assign(extra=1), "missing: none; not in data.csv: extra"),
        (lambda rows: rows.assign(prediction_id=None), "20 row(s) have no prediction_id"),
    ],
)
def test_bad_production_rows_are_named(workdir, capsys, change, message):
    PRODUCTION_FILE.parent.mkdir(parents=True)
    change(production_rows(20, seed=1)).to_csv(PRODUCTION_FILE, index=False)
    assert main(["prepare"]) == 2
    assert message in capsys.readouterr().err


def test_new_rows_with_other_columns_are_refused(workdir, capsys):
    production_rows(20, seed=1).to_csv("batch1.csv", index=False)
    production_rows(20, seed=2).drop(columns="x2").to_csv("batch2.csv", index=False)
    assert main(["add-production-rows", "--rows", "batch1.csv"]) == 0
    assert main(["add-production-rows", "--rows", "batch2.csv"]) == 2
    assert "different columns (x2)" in capsys.readouterr().err

"""The management commands are thin wrappers: train, score a file, evaluate a folder."""

import csv
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from detection.models import JobStatus, ScoredPoint

pytestmark = pytest.mark.django_db


def test_it_trains_from_the_command_line(detector, capsys):
    call_command("train", str(detector.pk))
    detector.refresh_from_db()
    assert detector.active_version.status == JobStatus.READY
    assert "ready in" in capsys.readouterr().out


def test_it_names_a_missing_detector():
    with pytest.raises(CommandError, match="No detector with id 999"):
        call_command("train", "999")


def test_it_scores_a_file_into_a_csv(trained_detector, tmp_path, capsys):
    source = tmp_path / "readings.csv"
    source.write_text("temp,pressure,flow\n20.0,1000.0,5.0\n45.0,1000.0,5.0\n")
    call_command("score", str(source), "--detector", str(trained_detector.pk), "--persist")
    rows = list(csv.DictReader((tmp_path / "readings-scored.csv").open()))
    assert [r["is_anomaly"] for r in rows] == ["0", "1"]
    assert ScoredPoint.objects.count() == 2
    assert "2 rows scored, 1 anomalies" in capsys.readouterr().out


def test_it_refuses_to_score_without_a_model(detector, tmp_path):
    source = tmp_path / "readings.csv"
    source.write_text("temp,pressure,flow\n20.0,1000.0,5.0\n")
    with pytest.raises(CommandError, match="train it first"):
        call_command("score", str(source), "--detector", str(detector.pk))


def test_it_evaluates_a_folder_of_labelled_files(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    y = np.zeros(300, dtype=int)
    X[:10] += 6
    y[:10] = 1
    with (tmp_path / "toy.csv").open("w") as f:
        f.write("f0,f1,f2,label\n")
        f.writelines(f"{a},{b},{c},{label}\n" for (a, b, c), label in zip(X, y, strict=True))
    call_command("evaluate", str(tmp_path), "--json", "--detectors", "robust_z")
    result = json.loads(capsys.readouterr().out)
    assert result["datasets"]["toy"]["robust_z"]["roc_auc"] > 0.95
    assert set(result["mean"]["robust_z"]) >= {
        "roc_auc", "average_precision", "f1", "false_alarm_rate"
    }

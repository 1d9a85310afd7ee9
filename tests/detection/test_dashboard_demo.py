"""`manage.py stream_demo`: realistic readings with injected anomalies, sent over HTTP to the
running server (here pytest-django's live server) with the demo user's token."""

import math

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from detection.management.commands import stream_demo
from detection.management.commands.stream_demo import DemoSignal, Injector
from detection.models import Detector, JobStatus, ScoredPoint

HOUR = 3600.0


def test_it_makes_correlated_readings_with_a_daily_shape():
    signal = DemoSignal(seed=1)
    times, rows = signal.history(end=10 * 86_400.0, days=4, step=60.0)
    assert rows.shape == (4 * 24 * 60, 4)
    correlations = np.corrcoef(rows.T)
    requests, cpu, memory, latency = range(4)
    assert correlations[requests, cpu] > 0.9 and correlations[requests, latency] > 0.9
    assert correlations[requests, memory] > 0.6
    hour = (times % 86_400.0) / HOUR
    afternoon = rows[(hour >= 14) & (hour < 16), requests].mean()
    night = rows[(hour >= 2) & (hour < 4), requests].mean()
    assert afternoon > night + 300
    live = np.array([signal.sample(15 * HOUR) for _ in range(500)])
    assert math.isclose(live[:, requests].mean(), 850, rel_tol=0.05)  # same curve, live


def test_it_injects_each_kind_of_anomaly_in_turn():
    injector = Injector(np.random.default_rng(0), start=0.0)
    row = np.array([600.0, 42.0, 61.0, 75.0])
    assert injector.apply(row, 1.0) == (row, None)  # nothing before the first one is due
    seen = []
    now = stream_demo.FIRST_ANOMALY_AFTER
    while len(seen) < 3:
        bent, started = injector.apply(row, now)
        if started is not None:
            seen.append((started.kind, bent - row))
        now += 0.5
    kinds = [kind for kind, _ in seen]
    assert kinds == ["spike", "broken correlation", "level shift"]
    spike, broken, shift = (change for _, change in seen)
    assert spike[3] == pytest.approx(75 * 2.5) and not spike[:3].any()
    assert broken[0] > 0 and broken[1] < 0 and broken[3] < 0  # more traffic, less work
    assert shift[2] == pytest.approx(12) and not shift[[0, 1, 3]].any()


def test_it_asks_for_setup_demo_first(db):
    with pytest.raises(CommandError, match="setup_demo"):
        call_command("stream_demo", "--seconds", "0.1")


@pytest.mark.django_db(transaction=True)
def test_it_creates_trains_and_feeds_the_demo_detector_over_http(
    live_server, django_user_model, media, eager_celery, monkeypatch, capsys
):
    monkeypatch.setattr(stream_demo, "HISTORY_DAYS", 0.25)  # 360 rows: a quick training
    monkeypatch.setattr(stream_demo, "FIRST_ANOMALY_AFTER", 0.3)
    django_user_model.objects.create_user("demo", password="demo-pw")

    call_command("stream_demo", "--url", live_server.url, "--rate", "10", "--seconds", "1.5")

    detector = Detector.objects.get(name="Demo sensors")
    assert detector.project.name == "Demo"
    assert detector.features == ["requests", "cpu", "memory", "latency"]
    assert detector.active_version.status == JobStatus.READY
    assert detector.dataset.row_count == 360 and detector.dataset.timestamp_column == "timestamp"
    points = ScoredPoint.objects.filter(detector=detector)
    assert 8 <= points.count() <= 16
    assert points.filter(source="stream", is_anomaly=True).exists()  # the latency spike
    out = capsys.readouterr().out
    assert "injecting a latency spike" in out
    assert "anomaly: score" in out and "latency" in out

    # A second run reuses the detector and its model.
    call_command("stream_demo", "--url", live_server.url, "--rate", "10", "--seconds", "0.3")
    assert Detector.objects.filter(name="Demo sensors").count() == 1
    assert detector.versions.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_when_no_server_answers(django_user_model, detector, monkeypatch):
    django_user_model.objects.create_user("demo", password="demo-pw")
    with pytest.raises(CommandError, match="did not answer in time"):
        call_command(
            "stream_demo", "--url", "http://127.0.0.1:9", "--detector", str(detector.pk),
            "--wait", "0.3",
        )  # fmt: skip

"""The dashboard in a real browser, as alice uses it: upload readings, train a detector and watch
it train, stream points and see them arrive, open an anomaly's explanation, label it, move the
sensitivity and see the preview change; and the fallback to polling when the socket is down.

Points are sent by this test to the running server's API with alice's token, as a script would.
Timings (from the request to the change on the page) are printed with -s and written to
tests/screenshots/timings.json next to the screenshots. UPDATE_DOCS_SCREENSHOT=1 also copies the
detector page's picture to docs/screenshots/detector.png, which the README shows.
"""

import json
import math
import os
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from playwright.sync_api import expect

from detection.management.commands.stream_demo import FEATURES, DemoSignal
from tests.browser.conftest import ROOT, SCREENSHOTS, log_in, screenshot

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "detector.png"
LIVE_DEADLINE_MS = 2000  # the Done list: new points and anomalies on the chart within 2 s


def post_points(site, detector_id: int, rows, times=None) -> dict:
    """POST /api/v1/detectors/<id>/stream/ with alice's token; returns the answer."""
    times = times or [datetime.now(UTC)] * len(rows)
    body = {
        "points": [
            {"time": t.isoformat(), "values": dict(zip(FEATURES, map(float, row), strict=True))}
            for t, row in zip(times, rows, strict=True)
        ]
    }
    request = urllib.request.Request(
        f"{site.url}/api/v1/detectors/{detector_id}/stream/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {site.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)


def get_json(site, path: str) -> dict:
    request = urllib.request.Request(
        f"{site.url}{path}", headers={"Authorization": f"Token {site.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def history_csv(path, days: float = 2, step: float = 60.0) -> None:
    """The demo's readings (four correlated features with a daily shape), one row a minute."""
    times, rows = DemoSignal(seed=3).history(time.time(), days=days, step=step)
    lines = ["timestamp," + ",".join(FEATURES)]
    for t, row in zip(times.tolist(), rows.tolist(), strict=True):
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(stamp + "," + ",".join(f"{v:.3f}" for v in row))
    path.write_text("\n".join(lines) + "\n")


def normal_rows(n: int, seed: int) -> np.ndarray:
    signal = DemoSignal(seed)
    now = time.time()
    return np.array([signal.sample(now) for _ in range(n)])


def spike(seed: int) -> np.ndarray:
    row = normal_rows(1, seed)
    row[0, FEATURES.index("latency")] *= 4
    return row


def wait_until(condition, timeout: float = 3.0) -> None:
    """Poll a condition from here (page.wait_for_function evaluates a string: CSP forbids it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def wait_for_live(page) -> None:
    expect(page.locator("[data-live-pill]")).to_have_text("Live", timeout=5000)


def save_timings(timings: dict, *, fresh: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "timings.json"
    old = json.loads(path.read_text()) if path.exists() and not fresh else {}
    path.write_text(json.dumps({**old, **timings}, indent=2) + "\n")
    print(json.dumps(timings, indent=2))


def test_it_goes_from_an_upload_to_a_labelled_anomaly(watched_page, site, tmp_path):
    page, watch = watched_page
    timings: dict = {}
    log_in(page, site.url, "alice")
    page.get_by_role("link", name="Alice's plant").click()
    page.get_by_role("link", name="Upload a dataset").first.click()

    # A file with bad cells: the form comes back naming each column's problems.
    broken = tmp_path / "broken.csv"
    broken.write_text("cpu,memory,latency\n21.5,60,80\nbusy,61,82\n22.1,62,x\n23.0,n/a?,85\n")
    page.get_by_label("File", exact=True).set_input_files(broken)
    page.get_by_role("button", name="Upload").click()
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("The file cannot be used")
    expect(errors.locator('tr[data-column="cpu"]')).to_contain_text("row 2")
    expect(errors.locator('tr[data-column="latency"]')).to_contain_text("row 3")
    screenshot(page, "upload-errors")

    # The real readings: the upload's progress bar, then the dataset's profile as charts.
    readings = tmp_path / "web-service.csv"
    history_csv(readings)
    page.get_by_label("File", exact=True).set_input_files(readings)
    page.get_by_label("Name").fill("Web service, 2 days")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/datasets/\d+/$"))
    expect(page.locator("canvas[data-histogram][data-drawn]")).to_have_count(4, timeout=15_000)
    expect(page.locator(".heatmap td.corr-p5").first).to_be_visible()
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    screenshot(page, "dataset-profile")

    # A detector on all four features with the default algorithm, then training.
    breadcrumbs = page.get_by_role("navigation", name="Breadcrumb")
    breadcrumbs.get_by_role("link", name="Alice's plant").click()
    form = page.locator("#new-detector")
    screenshot(page, "project")
    form.get_by_label("Name").fill("Web service")
    for name in FEATURES:
        expect(form.get_by_label(name, exact=True)).to_be_checked()
    expect(form.get_by_label("Algorithm")).to_have_value("ensemble")
    form.get_by_role("button", name="Create detector").click()
    page.wait_for_url(re.compile(r"/detectors/\d+/$"))
    detector_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
    wait_for_live(page)

    page.get_by_role("button", name="Train", exact=True).click()
    bar = page.locator("#versions progress.train-progress")
    seen: list[int] = []
    started = time.monotonic()
    while time.monotonic() - started < 60:
        try:
            value = int(bar.get_attribute("value", timeout=1000))
        except Exception:  # swapped out between two looks
            continue
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == 100:
            break
        time.sleep(0.05)
    timings["training_seconds"] = round(time.monotonic() - started, 2)
    timings["progress_seen"] = seen
    assert seen[-1] == 100, f"progress seen: {seen}; logs:\n{site.logs()}"
    assert seen == sorted(seen)
    expect(page.locator("#detector-state")).to_have_text("Ready (v1)")
    expect(page.locator("#versions")).to_contain_text("Active")

    # Streaming: points and then an anomaly reach the chart without a reload. First a minute
    # and a half of readings with a short memory level shift and a broken correlation in it.
    canvas = page.locator("#score-chart")
    expect(canvas).to_have_attribute("data-points", "0")
    now = datetime.now(UTC)
    times = [now - timedelta(seconds=90 - i) for i in range(90)]
    rows = normal_rows(90, seed=21)
    rows[50:56, FEATURES.index("memory")] += 12  # a level shift
    rows[70:72] += [350, -15, 0, -10]  # traffic that CPU and latency do not follow
    sent = time.monotonic()
    answer = post_points(site, detector_id, rows, times)
    answered = time.monotonic()
    expect(canvas).to_have_attribute("data-points", "90", timeout=LIVE_DEADLINE_MS)
    # The first request also loads the model into the web process: time the two apart.
    timings["first_points_request_ms"] = round((answered - sent) * 1000)
    timings["first_points_on_chart_after_answer_ms"] = round((time.monotonic() - answered) * 1000)
    earlier = answer["anomalies"]
    assert earlier >= 6, answer["anomalies"]
    expect(canvas).to_have_attribute("data-anomalies", str(earlier))

    sent = time.monotonic()
    answer = post_points(site, detector_id, spike(seed=22))
    assert answer["anomalies"] == 1, answer
    expect(canvas).to_have_attribute("data-anomalies", str(earlier + 1), timeout=LIVE_DEADLINE_MS)
    expect(canvas).to_have_attribute("data-points", "91")
    timings["anomaly_on_chart_ms"] = round((time.monotonic() - sent) * 1000)
    point_id = answer["results"][0]["id"]
    row = page.locator(f"#point-{point_id}")
    expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    timings["anomaly_in_table_ms"] = round((time.monotonic() - sent) * 1000)
    expect(page.locator("#anomaly-rows tr").first).to_have_id(f"point-{point_id}")
    expect(row).to_contain_text("latency")

    # Its explanation, then a label that changes the row in place.
    row.get_by_text("Explanation").click()
    details = row.locator("details.explain")
    expect(details).to_have_attribute("open", "")
    expect(details.locator(".contributions")).to_contain_text("latency")
    expect(details.locator(".contrib-bar").first).to_be_visible()
    # The sensitivity preview counted the new points by itself (refreshed on their message).
    expect(page.locator("#preview-flagged")).to_have_text(str(earlier + 1), timeout=3000)
    screenshot(page, "detector")
    page.evaluate(
        "window.scrollTo(0, document.querySelector('.breadcrumbs').getBoundingClientRect().top"
        " + window.scrollY - 12)"
    )
    screenshot(page, "detector-viewport", full_page=False)

    # The raw values of the top features, on demand.
    page.get_by_label(re.compile("Raw values of")).check()
    assert page.evaluate("detectorChart.data.datasets[4].hidden") is False
    wait_until(lambda: page.evaluate("detectorChart.data.datasets[4].data.length") == 91)
    screenshot(page, "detector-raw-values")

    anomaly = row.get_by_role("button", name="Anomaly", exact=True)
    anomaly.click()
    expect(anomaly).to_have_attribute("aria-pressed", "true")
    expect(details).to_have_attribute("open", "")  # still open after the row was re-rendered
    assert page.evaluate("window.sameDocument") is True

    # The sensitivity preview: a lower threshold flags more of the stored points. The readings
    # follow the time of day, so the threshold is chosen from the stored scores: just below the
    # highest one under 50 (in the slider's steps of 0.5, not below its minimum of 8).
    flagged = page.locator("#preview-flagged")
    before = int(flagged.inner_text())
    stored = get_json(site, f"/api/v1/detectors/{detector_id}/points/?limit=500")["results"]
    scores = [point["score"] for point in stored]
    assert len(scores) == 91 and sum(s >= 50 for s in scores) == before
    lower = max(8.0, math.floor(max(s for s in scores if s < 50) * 2) / 2)
    slider = page.get_by_role("slider", name="Flag points scoring at least")
    slider.focus()
    for _ in range(round((50 - lower) * 2)):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#threshold-out")).to_have_text(f"{lower:.1f}")
    expect(flagged).to_have_text(str(sum(s >= lower for s in scores)), timeout=3000)
    assert int(flagged.inner_text()) > before
    preview = page.locator("#sensitivity-preview")
    expect(preview).to_contain_text("Precision")
    expect(preview).to_contain_text("Against 1 labelled point")
    screenshot(page, "sensitivity-preview")
    page.get_by_role("button", name="Save sensitivity").click()
    expect(page.get_by_text("Saved: it applies to new points.")).to_be_visible()
    # The chart moves its threshold line once htmx has settled the swapped card.
    page.wait_for_function(f"detectorChart.data.datasets[2].data[0].y === {lower:g}", timeout=3000)
    assert page.evaluate("window.sameDocument") is True

    # The overview: the detector's state and counts, and the live feed of anomalies.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    wait_for_live(page)
    table = page.locator("#project-table")
    expect(table).to_contain_text("Web service")
    expect(table).to_contain_text("Ready (v1)")
    feed = page.locator("#anomaly-feed .feed-item")
    count = feed.count()
    assert count >= 1
    sent = time.monotonic()
    post_points(site, detector_id, spike(seed=23))
    expect(feed).to_have_count(count + 1, timeout=LIVE_DEADLINE_MS)
    timings["anomaly_in_overview_feed_ms"] = round((time.monotonic() - sent) * 1000)
    screenshot(page, "overview")
    save_timings(timings, fresh=True)

    # The README's picture (committed) changes only when asked, so that test runs leave the
    # working tree clean: UPDATE_DOCS_SCREENSHOT=1 make test-browser.
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes((SCREENSHOTS / "detector-viewport.png").read_bytes())


@pytest.fixture(scope="module")
def quick_detector(site):
    """A detector with a fast algorithm, trained in a shell on the site's database."""
    return site.shell(
        """
import json, time
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from detection import services
from detection.management.commands.stream_demo import DemoSignal, FEATURES
from detection.models import Project
alice = get_user_model().objects.get(username="alice")
project = Project.objects.get(name="Alice's plant")
times, rows = DemoSignal(seed=5).history(time.time(), days=1, step=120)
csv = ",".join(FEATURES) + "\\n" + "\\n".join(",".join(f"{v:.3f}" for v in r) for r in rows)
dataset = services.dataset_create(
    project=project, user=alice, name="Quick",
    uploaded_file=SimpleUploadedFile("quick.csv", csv.encode(), content_type="text/csv"),
)
detector = services.detector_create(
    project=project, user=alice, name="Quick check", dataset=dataset, features=FEATURES,
    algorithm="robust_z", sensitivity="low",
)
version = services.detector_train(detector=detector, enqueue=False)
services.model_version_run(version_id=version.pk)
print(json.dumps(detector.pk))
"""
    )


def test_it_falls_back_to_polling_when_the_socket_is_down(watched_page, site, quick_detector):
    page, watch = watched_page
    # Every WebSocket of the page is closed by the "network" as soon as it opens.
    page.route_web_socket(re.compile(r"/ws/"), lambda socket: socket.close())
    log_in(page, site.url, "alice")
    page.goto(f"{site.url}/detectors/{quick_detector}/")
    banner = page.locator("[data-live-banner]")
    expect(banner).to_be_visible()
    expect(banner).to_have_text("Live updates paused - refreshing every few seconds")
    expect(page.locator("[data-live-pill]")).to_have_text("Paused")

    canvas = page.locator("#score-chart")
    start = int(canvas.get_attribute("data-points"))
    sent = time.monotonic()
    post_points(site, quick_detector, normal_rows(5, seed=31))
    expect(canvas).to_have_attribute("data-points", str(start + 5), timeout=6000)
    answer = post_points(site, quick_detector, spike(seed=32))
    row = page.locator(f"#point-{answer['results'][0]['id']}")
    expect(row).to_be_visible(timeout=6000)  # the anomalies partial, polled
    save_timings({"polling_fallback_ms": round((time.monotonic() - sent) * 1000)})

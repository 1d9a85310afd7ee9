"""Feed the demo detector with live readings through the HTTP API, as a real client would.

    python manage.py stream_demo [--url http://127.0.0.1:8000] [--rate 2] [--seconds N]

The points go to POST /api/v1/detectors/<id>/stream/ on the running server (token auth), so they
are scored and broadcast by the web process, where the dashboard's WebSockets are. Before that,
through the ORM: the demo user's token, and unless --detector is given, the "Demo sensors"
detector of the user's Demo project: created on first run from three days of generated history
(the same daily shape) and trained here, in this process.

Four correlated readings of a web service - requests per second, CPU %, memory % and latency in
ms - follow a daily curve with noise. Now and then one of three kinds of anomaly is injected: a
latency spike, a memory level shift lasting a few minutes, and a broken correlation (a surge
of requests that CPU and latency do not follow). Each injection is printed as it starts.
"""

from __future__ import annotations

import http.client
import json
import math
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from detection import services
from detection.models import Detector, JobStatus, Project

FEATURES = ["requests", "cpu", "memory", "latency"]
DETECTOR_NAME = "Demo sensors"
PROJECT_NAME = "Demo"
DAY = 86_400.0
HISTORY_DAYS = 3
HISTORY_STEP = 60.0  # seconds between history rows
FIRST_ANOMALY_AFTER = 12.0  # seconds of streaming before the first injection
ANOMALY_GAP = (45.0, 90.0)  # seconds from the end of one injection to the next


class DemoSignal:
    """Readings of a web service at Unix time t: a daily curve (quiet at night, busy in the
    afternoon), a slowly wandering load, and noise; CPU, memory and latency follow requests."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.load = 0.0

    def daily(self, t: np.ndarray) -> np.ndarray:
        hour = (t % DAY) / 3600.0
        return np.sin(2 * math.pi * (hour - 9.0) / 24.0)  # lowest near 03:00, highest near 15:00

    def readings(self, t: np.ndarray, load: np.ndarray) -> np.ndarray:
        n = t.shape[0]
        noise = self.rng.normal(size=(n, 4))
        requests = 600 + 250 * self.daily(t) + 40 * load + 15 * noise[:, 0]
        cpu = 12 + 0.05 * requests + 1.5 * noise[:, 1]
        memory = 55 + 0.01 * requests + 1.2 * noise[:, 2]
        latency = 40 + 0.03 * requests + 0.4 * cpu + 2.0 * noise[:, 3]
        return np.column_stack([requests, cpu, memory, latency])

    def history(self, end: float, days: float = HISTORY_DAYS, step: float = HISTORY_STEP):
        """(times, rows) every `step` seconds over the `days` before `end`."""
        t = np.arange(end - days * DAY, end, step)
        return t, self.readings(t, self.rng.normal(size=t.shape[0]))

    def sample(self, t: float) -> np.ndarray:
        """One row at time t; the load wanders (AR(1)) with the same spread as in history."""
        self.load = 0.9 * self.load + math.sqrt(1 - 0.81) * self.rng.normal()
        return self.readings(np.array([t]), np.array([self.load]))[0]


@dataclass
class Injection:
    kind: str
    until: float  # monotonic seconds
    description: str


class Injector:
    """Decides when an anomaly starts and bends the readings while it lasts."""

    KINDS = ("spike", "broken correlation", "level shift")

    def __init__(self, rng: np.random.Generator, start: float):
        self.rng = rng
        self.next_at = start + FIRST_ANOMALY_AFTER
        self.turn = 0
        self.active: Injection | None = None

    def apply(self, row: np.ndarray, now: float) -> tuple[np.ndarray, Injection | None]:
        """The row, bent by the injection under way; the injection when it starts now."""
        started = None
        if self.active is not None and now >= self.active.until:
            self.active = None
        if self.active is None and now >= self.next_at:
            self.active = started = self._start(now)
            self.next_at = self.active.until + float(self.rng.uniform(*ANOMALY_GAP))
        if self.active is None:
            return row, started
        row = row.copy()
        requests, cpu, memory, latency = range(4)
        if self.active.kind == "spike":
            row[latency] *= 3.5
        elif self.active.kind == "level shift":
            row[memory] += 12.0
        else:  # broken correlation: a surge of traffic that CPU and latency do not follow
            row[requests] += 350.0
            row[cpu] -= 15.0
            row[latency] -= 10.0
        return row, started

    def _start(self, now: float) -> Injection:
        kind = self.KINDS[self.turn % len(self.KINDS)]
        self.turn += 1
        if kind == "spike":
            return Injection(kind, now + 1.0, "a latency spike (x3.5) for a second")
        if kind == "level shift":
            return Injection(kind, now + 120.0, "a memory level shift (+12 %) for 2 minutes")
        return Injection(
            kind, now + 8.0, "a broken correlation (traffic +350/s, CPU and latency down) for 8 s"
        )


class Command(BaseCommand):
    help = "Stream realistic readings with injected anomalies to the demo detector over HTTP."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
        parser.add_argument("--rate", type=float, default=2.0, help="points per second")
        parser.add_argument("--token", help="API token (default: the user's, created if need be)")
        parser.add_argument("--username", default="demo", help="whose token and Demo project")
        parser.add_argument("--detector", type=int, help="stream to this detector instead")
        parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
        parser.add_argument(
            "--wait", type=float, default=120, help="seconds to wait for the server"
        )
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        if options["rate"] <= 0:
            raise CommandError("--rate must be more than 0 points per second.")
        # Both explicitly: a shell starting this in the background (make run) ignores SIGINT
        # for it, and Ctrl-C must stop it all the same.
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        detector, token = self._prepare(options)
        url = urlparse(options["url"])
        if url.scheme != "http" or not url.hostname:
            raise CommandError(f"--url must be an http:// address, got {options['url']!r}")
        client = _Client(url.hostname, url.port or 80, token)
        path = f"/api/v1/detectors/{detector.pk}/stream/"
        try:
            self._wait_for(client, detector, options["wait"])
            self._stream(client, path, detector, options)
        except KeyboardInterrupt:
            pass
        finally:
            client.close()

    # --- Set-up through the ORM -------------------------------------------------------------

    def _prepare(self, options) -> tuple[Detector, str]:
        User = get_user_model()
        user = User.objects.filter(username=options["username"]).first()
        if options["detector"]:
            detector = Detector.objects.filter(pk=options["detector"]).first()
            if detector is None:
                raise CommandError(f"There is no detector {options['detector']}.")
        else:
            if user is None:
                raise CommandError(
                    f"There is no user {options['username']!r}: run `python manage.py "
                    "setup_demo` first, or pass --username."
                )
            detector = self._demo_detector(user, options["seed"])
        if options["token"]:
            token = options["token"]
        elif user is not None:
            token = Token.objects.get_or_create(user=user)[0].key
        else:
            raise CommandError("Pass --token, or --username of a user whose token to use.")
        return detector, token

    def _demo_detector(self, user, seed) -> Detector:
        project = Project.objects.filter(name=PROJECT_NAME, memberships__user=user).first()
        if project is None:
            project = services.project_create(
                owner=user, name=PROJECT_NAME, description="A demo workspace."
            )
        detector = Detector.objects.filter(project=project, name=DETECTOR_NAME).first()
        if detector is None:
            detector = self._create_detector(project, user, seed)
        version = detector.active_version
        if version is None or version.status != JobStatus.READY or not _loads(version):
            self._train(detector)
        return detector

    def _create_detector(self, project, user, seed) -> Detector:
        self.stdout.write(
            f"Creating the “{DETECTOR_NAME}” detector from {HISTORY_DAYS} days of history…"
        )
        times, rows = DemoSignal(seed if seed is not None else 1).history(
            time.time(), days=HISTORY_DAYS
        )
        lines = ["timestamp," + ",".join(FEATURES)]
        for t, row in zip(times.tolist(), rows.tolist(), strict=True):
            stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(stamp + "," + ",".join(f"{v:.3f}" for v in row))
        upload = SimpleUploadedFile(
            "demo-sensors.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv"
        )
        dataset = services.dataset_create(
            project=project, user=user, uploaded_file=upload, name="Demo sensors history"
        )
        return services.detector_create(
            project=project,
            user=user,
            name=DETECTOR_NAME,
            dataset=dataset,
            features=FEATURES,
            sensitivity="low",
        )

    def _train(self, detector: Detector) -> None:
        self.stdout.write(f"Training “{detector.name}” here (a few seconds)…")
        version = services.detector_train(detector=detector, enqueue=False)
        version = services.model_version_run(version_id=version.pk)
        if version is None or version.status != JobStatus.READY:
            raise CommandError(f"Training failed: {version.error if version else 'not run'}")
        detector.refresh_from_db()

    # --- Streaming over HTTP ----------------------------------------------------------------

    def _wait_for(self, client: _Client, detector: Detector, patience: float) -> None:
        deadline = time.monotonic() + patience
        said = False
        while True:
            try:
                status, body = client.request("GET", f"/api/v1/detectors/{detector.pk}/")
            except OSError:
                status, body = None, None
            if status == 200:
                return
            if status in (401, 403, 404):
                raise CommandError(f"The server refused the token: HTTP {status} {body}")
            if time.monotonic() > deadline:
                raise CommandError(f"The server at {client.origin} did not answer in time.")
            if not said:
                self.stdout.write(f"Waiting for the server at {client.origin}…")
                said = True
            time.sleep(0.5)

    def _stream(self, client: _Client, path: str, detector: Detector, options) -> None:
        self.sent = self.anomalies = 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Streaming {options['rate']:g} points/s to “{detector.name}” "
                f"({client.origin}{path}); the first anomaly in about "
                f"{FIRST_ANOMALY_AFTER:.0f} s. Ctrl-C stops."
            )
        )
        try:
            self._send_until_stopped(client, path, options)
        finally:
            self.stdout.write(f"Sent {self.sent} points, {self.anomalies} anomalies.")

    def _send_until_stopped(self, client: _Client, path: str, options) -> None:
        interval = 1.0 / options["rate"]
        started = tick = last_report = time.monotonic()
        readings = DemoSignal(options["seed"])
        injector = Injector(readings.rng, started)
        while not options["seconds"] or time.monotonic() - started < options["seconds"]:
            now = time.monotonic()
            row, injection = injector.apply(readings.sample(time.time()), now)
            if injection is not None:
                self.stdout.write(f"{_clock()} injecting {injection.description}")
            point = {
                "time": datetime.now(UTC).isoformat(),
                "values": {name: round(float(v), 3) for name, v in zip(FEATURES, row, strict=True)},
            }
            try:
                status, body = client.request("POST", path, {"points": [point]})
            except OSError as error:
                self.stderr.write(f"{_clock()} the server did not answer ({error}); retrying")
                time.sleep(1.0)
                tick = time.monotonic()
                continue
            if status != 201:
                raise CommandError(f"The server refused a point: HTTP {status} {body}")
            self.sent += 1
            for result in body.get("results", []):
                if result.get("is_anomaly"):
                    self.anomalies += 1
                    self.stdout.write(
                        f"{_clock()} anomaly: score {result['score']:.0f} ({result['band']}) - "
                        f"{result['explanation'].get('text', '')}"
                    )
            if now - last_report >= 60:
                self.stdout.write(f"{_clock()} {self.sent} points sent, {self.anomalies} anomalies")
                last_report = now
            tick += interval
            time.sleep(max(0.0, tick - time.monotonic()))


class _Client:
    """One keep-alive HTTP connection to the server, reopened when it drops."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.origin = f"http://{host}:{port}"
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.connection.request(method, path, body=data, headers=self.headers)
                response = self.connection.getresponse()
                text = response.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                return response.status, json.loads(text or b"null")
            except ValueError:
                return response.status, text[:200]
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _clock() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _stop(signum, frame):
    raise KeyboardInterrupt


def _loads(version) -> bool:
    """Whether this version's model file can be read (an upgrade may have outdated it)."""
    try:
        services.pipeline_for(version)
    except services.ModelOutdated:
        return False
    return True

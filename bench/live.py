"""Live updates: time from a stream ingest request to its WebSocket message at a client.

For each channel layer (in-memory, then Redis) this sets up a fresh embedded-tier site in a
temporary VAR_DIR (SQLite; Redis adds REDIS_URL with its own key prefixes), trains a detector with
the default algorithm in-process, starts uvicorn (1 worker for the in-memory layer, which only
reaches sockets in its own process; 2 workers for Redis, so messages cross processes), and then:

  - a WebSocket client logged in by session cookie connects to the detector's live feed (or the
    project's, where there is no detector feed), sending an Origin header;
  - a sender posts one point per request to POST /api/v1/detectors/<id>/stream/ on a steady
    schedule of --rate points/s over a few keep-alive HTTP connections (so one slow answer does
    not hold back the next send); each point has a unique event time;
  - the client matches each "points" message to its request by that event time.
Latency = arrival of the WebSocket message - the moment the request was sent, both read from
time.perf_counter() in this one process. The first second of points is a warm-up and not counted.

The last line printed is one JSON object with all figures. A full run also writes its section of
docs/BENCHMARKS.md ("## Live updates (bench/live.py)"), leaving the other sections alone.
Run from the repository root: .venv/bin/python bench/live.py [--quick] [--seconds N] [--rate R]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import queue
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "BENCHMARKS.md"
HEADING = "## Live updates (bench/live.py)"
RUNS_HEADING = "### All full runs"
NOTES_HEADING = "### Notes"  # a hand-written subsection after the runs, kept by every run
REDIS_URL = "redis://127.0.0.1:6379/13"
GOAL_P50_MS = 50.0
DRAIN_SECONDS = 3.0  # how long to wait for late messages after the last request

# Run by `manage.py shell -c` in the site under test; its last line of output is JSON.
SETUP = """
import json

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from anomaly_project.routing import websocket_urlpatterns
from detection import engine, services

rng = np.random.default_rng(7)
temp = rng.normal(20, 1.0, 500)
pressure = 1000 + 3 * (temp - 20) + rng.normal(0, 0.5, 500)
flow = rng.normal(5, 0.2, 500)
rows = zip(temp, pressure, flow)
lines = ["temp,pressure,flow"] + [f"{t:.4f},{p:.4f},{f:.4f}" for t, p, f in rows]
csv = ("\\n".join(lines) + "\\n").encode()

user = get_user_model().objects.create_user("bench", password=None)
token = services.api_token_create(user=user)
project = services.project_create(owner=user, name="Live bench")
dataset = services.dataset_create(
    project=project, user=user,
    uploaded_file=SimpleUploadedFile("plant.csv", csv, content_type="text/csv"),
)
detector = services.detector_create(
    project=project, user=user, name="Hall 3", dataset=dataset,
    features=["temp", "pressure", "flow"], algorithm=engine.DEFAULT_ALGORITHM,
)
version = services.detector_train(detector=detector, user=user, enqueue=False)
version = services.model_version_run(version_id=version.pk)
assert version is not None and version.status == "ready", version and version.error

client = Client()
client.force_login(user)
routes = [str(p.pattern) for p in websocket_urlpatterns]
if any(r.startswith("ws/detectors/") for r in routes):
    feed = f"/ws/detectors/{detector.pk}/"
else:
    feed = f"/ws/projects/{project.pk}/"
print(json.dumps({
    "token": token.key,
    "detector": detector.pk,
    "algorithm": detector.algorithm,
    "feed": feed,
    "cookie": settings.SESSION_COOKIE_NAME,
    "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
}))
"""


# --- Machine ---------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    ram_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "load_1min": round(os.getloadavg()[0], 2),
    }


# --- The site under test ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(var_dir: Path, redis_prefix: str | None) -> dict[str, str]:
    drop = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        DJANGO_SETTINGS_MODULE="anomaly_project.settings",
        VAR_DIR=str(var_dir),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        API_THROTTLE_USER="100000000/hour",
        LOG_LEVEL="WARNING",
    )
    if redis_prefix:
        env.update(
            REDIS_URL=REDIS_URL,
            CHANNEL_LAYER_PREFIX=redis_prefix,
            CACHE_KEY_PREFIX=f"{redis_prefix}-cache",
        )
    return env


def set_up_site(env: dict[str, str]) -> dict:
    manage = [sys.executable, "manage.py"]
    run = {"cwd": ROOT, "capture_output": True, "text": True}
    done = subprocess.run([*manage, "migrate", "--noinput"], env=env, **run)
    if done.returncode:
        raise SystemExit(f"migrate failed:\n{done.stderr[-3000:]}")
    # Tasks queued during set-up (the dataset profile) run in this process.
    done = subprocess.run(
        [*manage, "shell", "-c", SETUP], env={**env, "CELERY_TASK_ALWAYS_EAGER": "true"}, **run
    )
    if done.returncode:
        raise SystemExit(f"set-up failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_server(env: dict[str, str], port: int, workers: int, log_path: Path):
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "anomaly_project.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = log_path.open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child keeps its own descriptor
    deadline = time.monotonic() + 60
    ready = 0
    while ready < 2 * workers:  # a few answers, so that every worker has started
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as answer:
                ready += answer.status == 200
        except OSError as error:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_server(server)
                log = log_path.read_text()[-3000:]
                raise SystemExit(f"the server did not start:\n{log}") from error
            time.sleep(0.2)
    return server


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def redis_problem() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:
        return f"Redis at {REDIS_URL} does not answer: {error}"
    return None


# --- CPU use during a run (Linux /proc), to tell a slow server from a busy machine ----------

TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += process_tree(int(child))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs; idle and iowait count as not busy."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


class CpuWatch:
    """CPU used by the server's processes, this client and the whole machine over a window."""

    def __init__(self, server_pid: int):
        self.pids = process_tree(server_pid)
        self.start = self._read()

    def _read(self) -> tuple[float, float, float, tuple[int, int]]:
        return time.perf_counter(), cpu_seconds(self.pids), time.process_time(), machine_ticks()

    def stop(self) -> dict:
        (w0, s0, c0, (b0, t0)), (w1, s1, c1, (b1, t1)) = self.start, self._read()
        wall = w1 - w0
        cpus = len(os.sched_getaffinity(0))
        server, client = (s1 - s0) / wall, (c1 - c0) / wall
        machine = (b1 - b0) / max(t1 - t0, 1) * cpus
        return {
            "server_cpu_s": s1 - s0,
            "server_cpu_pct": round(100 * server),  # of one CPU; 2 workers can use up to 200
            "client_cpu_pct": round(100 * client),
            "other_cpus": round(max(machine - server - client, 0.0), 2),  # other work, in CPUs
        }


# --- Load and measurement --------------------------------------------------------------------


class Sender:
    """Posts one point per request on a steady schedule over a few keep-alive connections.

    Records, per event time: when its request was sent, when its answer was read, and how late
    the send was against the schedule (when every connection was still waiting for an answer).
    """

    def __init__(self, port: int, site: dict, rate: float, times: list[datetime], conns: int):
        self.port, self.rate, self.times, self.conns = port, rate, times, conns
        self.path = f"/api/v1/detectors/{site['detector']}/stream/"
        self.headers = {
            "Authorization": f"Token {site['token']}",
            "Content-Type": "application/json",
        }
        self.sent: dict[datetime, float] = {}
        self.done: dict[datetime, float] = {}  # accepted requests only
        self.lag: dict[datetime, float] = {}
        self.errors: list[str] = []
        self.jobs: queue.Queue = queue.Queue()

    def run(self) -> None:
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(self.conns)]
        for worker in workers:
            worker.start()
        start = time.perf_counter() + 0.05
        for i, moment in enumerate(self.times):
            due = start + i / self.rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            self.jobs.put((due, moment, i))
        for _ in workers:
            self.jobs.put(None)
        for worker in workers:
            worker.join()

    def _work(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while (job := self.jobs.get()) is not None:
            due, moment, i = job
            # A normal reading with a little variation; the event time makes each point unique.
            values = {"temp": 20 + (i % 7) * 0.1, "pressure": 1000.0 + (i % 5) * 0.2, "flow": 5.0}
            body = json.dumps({"points": [{"time": moment.isoformat(), "values": values}]})
            sent = time.perf_counter()
            self.sent[moment] = sent
            self.lag[moment] = sent - due
            try:
                conn.request("POST", self.path, body, self.headers)
                answer = conn.getresponse()
                text = answer.read()
            except (OSError, http.client.HTTPException) as error:
                self.errors.append(repr(error))
                conn.close()  # the next request opens a new connection
                continue
            if answer.status == 201:
                self.done[moment] = time.perf_counter()
            else:
                self.errors.append(f"HTTP {answer.status}: {text[:200]!r}")
        conn.close()


class Feed:
    """The WebSocket client: holds the live feed and stamps the arrival of every point in it.

    When the server drops the connection it reconnects at once, as the dashboard's htmx ws
    extension does, and records the drop: points sent meanwhile count as missing.
    """

    def __init__(self, port: int, site: dict):
        self.url = f"ws://127.0.0.1:{port}{site['feed']}"
        self.headers = {
            "Origin": f"http://127.0.0.1:{port}",
            "Cookie": f"{site['cookie']}={site['session']}",
        }
        self.arrivals: dict[datetime, float] = {}
        self.drops: list[str] = []
        self.started = time.perf_counter()

    async def open(self):
        try:
            self.ws = await connect(self.url, additional_headers=self.headers, max_size=None)
            return self.ws
        except (OSError, InvalidHandshake) as error:
            raise SystemExit(f"the WebSocket handshake at {self.url} failed: {error!r}") from error

    async def run(self, ws) -> None:
        while True:
            try:
                async for raw in ws:
                    now = time.perf_counter()
                    message = json.loads(raw)
                    if message.get("kind") == "points":
                        for point in message["points"]:
                            self.arrivals.setdefault(datetime.fromisoformat(point["time"]), now)
            except ConnectionClosed:
                pass
            at = time.perf_counter() - self.started
            self.drops.append(f"closed with code {ws.close_code} after {at:.1f} s")
            ws = await self.open()


async def measure(server_pid: int, port: int, site: dict, args) -> dict:
    """Connect the WebSocket client, warm up for a second, then send and time the points."""
    rate, seconds, conns = args.rate, args.seconds, args.connections
    base = datetime.now(UTC).replace(microsecond=0)
    step = timedelta(seconds=1 / rate)
    warmup = int(rate)
    times = [base + i * step for i in range(warmup + int(rate * seconds))]
    feed = Feed(port, site)
    arrivals = feed.arrivals

    async def drain(sender: Sender) -> None:
        """Wait (a while) for the messages of every accepted point."""
        deadline = time.perf_counter() + DRAIN_SECONDS
        while any(t not in arrivals for t in sender.done) and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)

    ws = await feed.open()
    receiver = asyncio.create_task(feed.run(ws))
    # The warm-up loads the model in each worker and fills caches; it is not counted.
    warm = Sender(port, site, rate, times[:warmup], conns)
    await asyncio.to_thread(warm.run)
    await drain(warm)
    await asyncio.sleep(0.5)
    sender = Sender(port, site, rate, times[warmup:], conns)
    watch = CpuWatch(server_pid)
    await asyncio.to_thread(sender.run)
    cpu = watch.stop()
    await drain(sender)
    receiver.cancel()
    try:
        await receiver
    except asyncio.CancelledError:
        pass
    except Exception as error:  # a fault in the client must show, not pass for latency
        raise SystemExit(f"the WebSocket client failed: {error!r}") from error
    await feed.ws.close()
    for drop in feed.drops:
        print(f"  the server dropped the WebSocket: {drop}", file=sys.stderr)

    accepted = [t for t in sender.times if t in sender.done]
    span = 0.0
    if len(accepted) > 1:
        span = max(sender.done[t] for t in accepted) - min(sender.sent[t] for t in accepted)
    return {
        "ws": [arrivals[t] - sender.sent[t] for t in accepted if t in arrivals],
        # The same, counted from the moment the point was due (adds any wait for a connection).
        "due": [arrivals[t] - sender.sent[t] + sender.lag[t] for t in accepted if t in arrivals],
        "http": [sender.done[t] - sender.sent[t] for t in accepted],
        "lag": list(sender.lag.values()),
        "accepted": len(accepted),
        "span": span,
        "missing": sum(1 for t in accepted if t not in arrivals),
        "errors": sender.errors,
        "drops": feed.drops,  # warm-up included: a dropped consumer can stay in its group
        "cpu": cpu,
    }


def ms(value: float) -> float:
    return round(value * 1000, 2)


def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def summarize(raw: dict, workers: int, feed: str) -> dict:
    ws, http_times, cpu = raw["ws"], raw["http"], raw["cpu"]
    return {
        "p50_ms": ms(statistics.median(ws)) if ws else None,
        "p99_ms": ms(percentile(ws, 99)) if ws else None,
        "max_ms": ms(max(ws)) if ws else None,
        "mean_ms": ms(statistics.fmean(ws)) if ws else None,
        "n": len(ws),
        "rate": round(raw["accepted"] / raw["span"], 1) if raw["span"] else None,
        "missing": raw["missing"],
        "errors": len(raw["errors"]),
        "drops": len(raw["drops"]),
        "http_p50_ms": ms(statistics.median(http_times)) if http_times else None,
        "http_p99_ms": ms(percentile(http_times, 99)) if http_times else None,
        "due_p50_ms": ms(statistics.median(raw["due"])) if ws else None,
        "due_p99_ms": ms(percentile(raw["due"], 99)) if ws else None,
        "send_lag_p99_ms": ms(percentile(raw["lag"], 99)) if raw["lag"] else None,
        "workers": workers,
        "feed": feed.split("/")[2],
        "server_cpu_ms_per_point": (
            round(1000 * cpu["server_cpu_s"] / raw["accepted"], 2) if raw["accepted"] else None
        ),
        "server_cpu_pct": cpu["server_cpu_pct"],
        "client_cpu_pct": cpu["client_cpu_pct"],
        "other_cpus": cpu["other_cpus"],
    }


def run_layer(name: str, args) -> dict:
    """Set up a site for one channel layer, serve it, measure, tear it down."""
    redis_prefix = f"bench-live-{secrets.token_hex(4)}" if name == "redis" else None
    workers = 2 if name == "redis" else 1
    with tempfile.TemporaryDirectory(prefix=f"bench-live-{name}-") as folder:
        var_dir = Path(folder)
        env = site_env(var_dir, redis_prefix)
        try:
            print(f"[{name}] setting up a site in {var_dir} ...", file=sys.stderr)
            site = set_up_site(env)
            port = free_port()
            server = start_server(env, port, workers, var_dir / "server.log")
            try:
                print(
                    f"[{name}] uvicorn x{workers} on :{port}, feed {site['feed']}, "
                    f"{args.rate:g} points/s for {args.seconds:g} s ...",
                    file=sys.stderr,
                )
                raw = asyncio.run(measure(server.pid, port, site, args))
            finally:
                stop_server(server)
            if raw["errors"]:
                first = raw["errors"][0]
                print(
                    f"[{name}] {len(raw['errors'])} request errors, first: {first}", file=sys.stderr
                )
            if raw["errors"] or raw["drops"]:
                print(f"[{name}] server log (end):", file=sys.stderr)
                print((var_dir / "server.log").read_text()[-3000:], file=sys.stderr)
            return {**summarize(raw, workers, site["feed"]), "algorithm": site["algorithm"]}
        finally:
            if redis_prefix:
                forget_redis_keys(redis_prefix)


# --- Report ----------------------------------------------------------------------------------

COLUMNS = [
    ("Channel layer", None),
    ("workers", "workers"),
    ("feed", "feed"),
    ("WS p50 ms", "p50_ms"),
    ("WS p99 ms", "p99_ms"),
    ("WS max ms", "max_ms"),
    ("n", "n"),
    ("missing", "missing"),
    ("drops", "drops"),
    ("rate /s", "rate"),
    ("HTTP p50 ms", "http_p50_ms"),
    ("HTTP p99 ms", "http_p99_ms"),
    ("server CPU %", "server_cpu_pct"),
    ("CPU ms/point", "server_cpu_ms_per_point"),
    ("other CPUs", "other_cpus"),
]
LABELS = {"inmemory": "in-memory", "redis": "Redis"}


def table_rows(results: dict) -> list[list[str]]:
    rows = []
    for key, label in LABELS.items():
        figures = results[key]
        if "skipped" in figures:
            rows.append([label, f"skipped: {figures['skipped']}"] + [""] * (len(COLUMNS) - 2))
            continue
        cells = ["-" if figures[field] is None else str(figures[field]) for _, field in COLUMNS[1:]]
        rows.append([label, *cells])
    return rows


def text_table(results: dict) -> str:
    header = [title for title, _ in COLUMNS]
    rows = [header, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    rows.insert(1, ["-" * width for width in widths])
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def verdict(results: dict) -> str:
    """p50 under the goal, at (at least 95% of) the asked rate, with every message delivered."""
    parts = []
    for key, label in LABELS.items():
        figures = results[key]
        if figures.get("p50_ms") is None:
            parts.append(f"{label}: not measured")
            continue
        ok = figures["p50_ms"] < GOAL_P50_MS
        notes = []
        if (figures["rate"] or 0) < 0.95 * results["rate"]:
            ok = False
            notes.append(f"only {figures['rate']} points/s sustained")
        if figures["missing"] or figures["errors"] or figures["drops"]:
            ok = False
            notes.append(
                f"{figures['missing']} messages missing, {figures['errors']} request errors,"
                f" {figures['drops']} WebSocket drops"
            )
        note = f"; {', '.join(notes)}" if notes else ""
        parts.append(f"{label} {'holds' if ok else 'FAILS'} (p50 {figures['p50_ms']} ms{note})")
    return f"p50 < {GOAL_P50_MS:g} ms at {results['rate']:g} points/s: " + "; ".join(parts)


METHOD = [
    "Method: each layer gets a fresh embedded-tier site in a temporary VAR_DIR (SQLite in WAL"
    " mode); the Redis one adds `REDIS_URL={redis}` with key prefixes of its own. A detector with"
    " the default algorithm ({algorithm}) is trained in-process. uvicorn serves the site with"
    " DEBUG off and no access log: 1 worker for the in-memory layer (it reaches only sockets in"
    " its own process), 2 for Redis (a request lands on either worker, so messages cross"
    " processes). A WebSocket client, logged in by session cookie and sending an Origin header,"
    " holds the {feed} feed. A sender posts one point per request at {rate:g} points/s on a"
    " fixed schedule over {connections} keep-alive HTTP connections, for {seconds:g} s after a"
    " 1 s warm-up that is not counted. Each point has a unique event time, by which the client"
    " matches every `points` message to its request.",
    "Latency = WebSocket message arrival - request sent, both read from `time.perf_counter()` in"
    " the one client process. HTTP columns are the request's own round trip. `rate` is the"
    " points accepted per second of the run; `missing` counts accepted points whose message did"
    " not come within {drain:g} s; `drops` counts WebSocket connections the server closed (warm-up"
    " included; the client reconnects at once, as the dashboard does). `server CPU %` is the"
    " server processes' CPU time over the run (100 = one CPU busy), `CPU ms/point` the same per"
    " accepted point, and `other CPUs` the rest of the machine's load in CPUs (other work on"
    " this shared machine).",
]


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False)


def markdown_section(results: dict, command: str, previous_runs: list[str]) -> str:
    m = results["machine"]
    header = [title for title, _ in COLUMNS]
    figures = results["inmemory"]
    lines = [
        HEADING,
        "",
        "Time from a stream ingest request (`POST /api/v1/detectors/<id>/stream/`, one point per",
        "request) to the `points` message for that point at a WebSocket client of the live feed,",
        "with the in-memory channel layer and with Redis.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']};"
        f" load average {m['load_1min']} at the start.",
        f"- Date: {results['date']}",
        f"- Command: `{command}` (`--quick`: 5 s per layer, and this section is left alone)",
        *(
            wrap(
                "- "
                + item.format(
                    redis=REDIS_URL,
                    algorithm=results.get("algorithm", "?"),
                    feed=f"{figures.get('feed', 'projects')[:-1]}'s",
                    rate=results["rate"],
                    connections=results["connections"],
                    seconds=results["seconds"],
                    drain=DRAIN_SECONDS,
                ),
                indent="  ",
            )
            for item in METHOD
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        *("| " + " | ".join(row) + " |" for row in table_rows(results)),
        "",
        wrap(
            "Counted from the moment each point was due instead (adding its wait for a free"
            f" connection when the server falls behind the schedule): {due_line(results)}."
        ),
        "",
        wrap(f"Acceptance, {verdict(results)}."),
        "",
        RUNS_HEADING,
        "",
        "| Date | Load | In-memory p50 / p99 ms | Redis p50 / p99 ms"
        " | Points/s (in-memory, Redis) | Other CPUs (in-memory, Redis) |",
        "|---|---:|---:|---:|---:|---:|",
        *previous_runs[-9:],
        run_row(results),
    ]
    return "\n".join(lines)


def due_line(results: dict) -> str:
    parts = []
    for key, label in LABELS.items():
        figures = results[key]
        if figures.get("due_p50_ms") is not None:
            parts.append(f"{label} p50 {figures['due_p50_ms']} / p99 {figures['due_p99_ms']} ms")
    return ", ".join(parts) or "-"


def run_row(results: dict) -> str:
    def pair(key: str) -> str:
        figures = results[key]
        if figures.get("p50_ms") is None:
            return "-"
        return f"{figures['p50_ms']} / {figures['p99_ms']}"

    rates = ", ".join(str(results[key].get("rate", "-")) for key in LABELS)
    other = ", ".join(str(results[key].get("other_cpus", "-")) for key in LABELS)
    load = results["machine"]["load_1min"]
    return (
        f"| {results['date']} | {load} | {pair('inmemory')} | {pair('redis')} | {rates} | {other} |"
    )


def write_docs(results: dict, command: str) -> None:
    """Replace (or add) only this benchmark's section: the other sections belong to others."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == HEADING), None)
    if start is None:
        before, old, after = lines, [], []
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before, old, after = lines[:start], lines[start:end], lines[end:]
    previous, notes = [], []
    if RUNS_HEADING in old:
        runs = old[old.index(RUNS_HEADING) :]
        if NOTES_HEADING in runs:
            notes = runs[runs.index(NOTES_HEADING) :]  # written by hand: kept as it is
            runs = runs[: runs.index(NOTES_HEADING)]
        previous = [line for line in runs if line.startswith("| 2")]  # rows start with a date
    while before and not before[-1].strip():
        before.pop()
    section = markdown_section(results, command, previous).splitlines()
    if notes:
        while notes[-1].strip() == "":
            notes.pop()
        section += ["", *notes]
    out = [*before, "", *section, *(["", *after] if after else [])]
    DOCS.write_text("\n".join(out).rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per layer; docs untouched")
    parser.add_argument("--seconds", type=float, help="measured seconds per layer (default 25)")
    parser.add_argument("--rate", type=float, default=100.0, help="points per second")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive HTTP connections")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/BENCHMARKS.md")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 25.0

    results: dict = {"machine": machine()}
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["inmemory"] = run_layer("inmemory", args)
    problem = redis_problem()
    results["redis"] = {"skipped": problem} if problem else run_layer("redis", args)
    results.update(rate=args.rate, seconds=args.seconds, connections=args.connections)
    results["algorithm"] = results["inmemory"].get("algorithm")

    m = results["machine"]
    print(f"Live updates on {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB, {results['date']}")
    print(f"{args.rate:g} points/s, one point per request, {args.seconds:g} s per layer\n")
    print(text_table(results))
    print(f"\n{verdict(results)}")
    if not args.quick and not args.no_docs:
        command = " ".join([".venv/bin/python bench/live.py", *sys.argv[1:]])
        write_docs(results, command)
        print(f"wrote the '{HEADING[3:]}' section of {DOCS.relative_to(ROOT)}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()

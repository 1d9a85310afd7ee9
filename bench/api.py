"""API speed through HTTP, next to a bare DRF endpoint served by the same server in the same run.

For each database (SQLite in a temporary VAR_DIR; PostgreSQL in a new database bench_api_<random>
on 127.0.0.1:5432, dropped at the end) the bench migrates, creates a user with an API token, a
project, a dataset and a detector with the default algorithm, trains it (in a child process with
the server's environment), then starts 2 uvicorn server processes, DEBUG off and a real
SECRET_KEY, with ROOT_URLCONF=bench.bare_urls: the product's URLs plus `POST /bench/bare/`, a DRF
APIView answering {"ok": true} (bench/bare_urls.py). It measures:

  - latency: p50/p99 of sequential keep-alive requests from one client (http.client), for the
    bare endpoint, one point scored, and one point scored and stored;
  - throughput: wrk (POST bodies and headers from a Lua script) on the same three; rounds
    alternate them so noise hits all alike, and each ratio to the bare endpoint is taken within
    a round, then the median over rounds. Each server process gets its own wrk with an equal
    share of the threads and connections, run at the same time, and req/s is their sum: with
    one server of 2 workers, the kernel handed the 8 connections to whichever worker accepted
    first, 4/4 in some runs and 5/3 or worse in others, and a run's req/s went with the split
    (bare: 2,600-3,100 at 4/4, 1,800-2,400 at 5/3), whatever the code;
  - batch: 10,000 points in one request, stored ("persist": true) and not, repeated; the median
    points/s is over the wall time of the request, JSON in and out included.

The last line printed is one JSON object with every figure.
Run from the repository root: .venv/bin/python bench/api.py [--quick] [--duration S] ...
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
URLCONF = "bench.bare_urls"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BARE_PATH = "/bench/bare/"
FEATURES = ["temp", "pressure", "flow", "vibration", "current"]
KINDS = ("bare", "score", "persist")


# --- In the child process: the database, the user, the detector and its model. -------------------


def setup_database(rows: int) -> dict:
    """Migrate and create everything the server will need; runs with the server's environment."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomaly_project.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from detection import engine, services

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", "bench@example.org", secrets.token_hex(8))
    token = Token.objects.create(user=user)
    project = services.project_create(owner=user, name="Bench plant")
    X = normal_rows(rows, seed=1)
    lines = [",".join(FEATURES)] + [",".join(f"{v:.5f}" for v in row) for row in X.tolist()]
    upload = SimpleUploadedFile("bench.csv", ("\n".join(lines) + "\n").encode(), "text/csv")
    dataset = services.dataset_create(project=project, user=user, uploaded_file=upload)
    detector = services.detector_create(
        project=project,
        user=user,
        name="Bench detector",
        dataset=dataset,
        features=FEATURES,
        algorithm=engine.DEFAULT_ALGORITHM,
    )
    version = services.detector_train(detector=detector, user=user, enqueue=False)
    started = time.perf_counter()
    version = services.model_version_run(version_id=version.pk)
    if version is None or version.status != "ready":
        raise SystemExit(f"training failed: {getattr(version, 'error', 'not run')}")
    return {
        "token": token.key,
        "detector": detector.pk,
        "algorithm": engine.DEFAULT_ALGORITHM,
        "train_rows": rows,
        "train_seconds": round(time.perf_counter() - started, 2),
    }


def normal_rows(n: int, seed: int):
    """Correlated plant readings: what the detector learns and what the bench scores."""
    import numpy as np

    rng = np.random.default_rng(seed)
    temp = rng.normal(20, 1.0, n)
    return np.column_stack(
        [
            temp,
            1000 + 3 * (temp - 20) + rng.normal(0, 0.5, n),
            rng.normal(5, 0.2, n),
            rng.gamma(2.0, 0.5, n),
            10 + 0.2 * (temp - 20) + rng.normal(0, 0.1, n),
        ]
    )


# --- In the parent: servers, clients, figures. --------------------------------------------------


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "wrk": shutil.which("wrk") is not None,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn on 127.0.0.1, one process, stopped by its own process id."""

    def __init__(self, env: dict, workdir: Path) -> None:
        self.port = free_port()
        self.log = open(workdir / f"uvicorn-{self.port}.log", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "anomaly_project.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--lifespan",
                "off",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, headers: dict, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"uvicorn exited ({self.process.returncode}):\n{self.output()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("POST", BARE_PATH, b"{}", headers)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"uvicorn did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def sequential_latency(port: int, path: str, body: bytes, headers: dict, n: int) -> dict:
    """n requests one after another on one keep-alive connection; milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        payload = response.read()
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"POST {path} answered {response.status}: {payload[:500]!r}")
    conn.close()
    times.sort()
    return {
        "p50_ms": round(percentile(times, 50), 3),
        "p99_ms": round(percentile(times, 99), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "n": n,
    }


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_script(workdir: Path, name: str, body: bytes, headers: dict) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body.decode())}"]
    lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()]
    script = workdir / f"{name}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(
    ports: list[int],
    path: str,
    script: Path,
    threads: int,
    connections: int,
    seconds: float,
    strict: bool = True,
):
    """wrk on every port at once, each with its share of threads and connections; req/s and
    requests are the sums, p50/p99 the largest of the runs'."""

    def share(total: int, i: int) -> int:
        return max(1, total // len(ports) + (i < total % len(ports)))

    runs = []
    for i, port in enumerate(ports):
        command = [
            "wrk",
            f"-t{share(threads, i)}",
            f"-c{share(connections, i)}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        runs.append((command, process))
    results = [
        _wrk_result(command, *process.communicate(), process.returncode, path, strict)
        for command, process in runs
    ]
    latency = {
        key: max(r[key] for r in results)
        for key in ("p50_ms", "p99_ms")
        if all(key in r for r in results)
    }
    return {
        "rps": round(sum(r["rps"] for r in results), 2),
        "requests": sum(r["requests"] for r in results),
        **latency,
    }


def _wrk_result(command: list[str], out: str, err: str, code: int, path: str, strict: bool) -> dict:
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out}{err}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if strict and (bad or errors):
        raise SystemExit(f"wrk on {path}: not every request succeeded:\n{out}")
    latency = {}
    for q, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)$", out, re.M):
        latency[f"p{q}_ms"] = round(float(value) * _UNITS[unit], 3)
    return {"rps": rps, "requests": total, **latency}


def batch_rate(port: int, path: str, body: bytes, headers: dict, n: int, repeats: int) -> dict:
    """Points/s of one big request, median over repeats: the wall time from sending the body to
    the last byte of the answer (the server reads, scores, stores and writes JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    seconds = []
    for _ in range(repeats + 1):  # the first one, not counted, warms the worker for big bodies
        started = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        payload = response.read()
        seconds.append(time.perf_counter() - started)
        result = json.loads(payload) if response.status == 200 else None  # checked, not timed
        if result is None or result.get("count") != n:
            raise SystemExit(f"batch POST answered {response.status}: {payload[:500]!r}")
    conn.close()
    seconds = seconds[1:]
    median = statistics.median(seconds)
    return {
        "points": n,
        "median_seconds": round(median, 4),
        "points_per_s": round(n / median),
        "runs_seconds": [round(s, 4) for s in seconds],
    }


def create_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"bench_api_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"{PG_SERVER}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    if not name.startswith("bench_api_"):  # never anything this bench did not create
        return
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_database(kind: str, args, workdir: Path) -> dict:
    var_dir = workdir / kind
    var_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "anomaly_project.settings",
        "ROOT_URLCONF": URLCONF,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAR_DIR": str(var_dir),
        "API_THROTTLE_USER": "1000000000/hour",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("DATABASE_URL", "REDIS_URL", "DATABASE_POOL", "DATABASE_CONN_MAX_AGE"):
        env.pop(name, None)
    pg_name = None
    servers: list[Server] = []
    load_start = round(os.getloadavg()[0], 2)
    try:
        if kind == "postgresql":
            pg_name, env["DATABASE_URL"] = create_pg_database()
            if args.pg_pool:
                env["DATABASE_POOL"] = "true"
        setup = subprocess.run(
            [PYTHON, str(Path(__file__).resolve()), "--setup", "--rows", str(args.rows)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if setup.returncode != 0:
            raise SystemExit(f"set-up failed on {kind}:\n{setup.stdout}\n{setup.stderr}")
        made = json.loads(setup.stdout.strip().splitlines()[-1])
        headers = {"Content-Type": "application/json", "Authorization": f"Token {made['token']}"}
        score_path = f"/api/v1/detectors/{made['detector']}/score/"
        one = normal_rows(1, seed=2)[0].round(4).tolist()
        bodies = {
            "bare": json.dumps({"point": one}).encode(),
            "score": json.dumps({"point": one}).encode(),
            "persist": json.dumps({"point": one, "persist": True}).encode(),
        }
        paths = {"bare": BARE_PATH, "score": score_path, "persist": score_path}

        servers = [Server(env, workdir) for _ in range(args.workers)]
        for one_server in servers:
            one_server.wait_ready(headers)
        server, ports = servers[0], [one_server.port for one_server in servers]
        print(f"[{kind}] servers on ports {ports}, detector {made['detector']}", flush=True)

        scripts = {k: wrk_script(workdir, f"{kind}-{k}", bodies[k], headers) for k in KINDS}
        for k in KINDS:  # every server imports, connects and loads the model before any timing
            run_wrk(
                ports,
                paths[k],
                scripts[k],
                args.threads,
                args.connections,
                args.warmup,
                strict=False,
            )

        latency, throughput, ratios, batch = {}, {}, {}, {}
        if "latency" in args.parts:
            latency = {
                k: sequential_latency(
                    server.port, paths[k], bodies[k], headers, args.latency_requests
                )
                for k in KINDS
            }
            print(f"[{kind}] latency done", flush=True)

        rounds = []
        for r in range(args.rounds if "throughput" in args.parts else 0):
            row = {
                k: run_wrk(
                    ports, paths[k], scripts[k], args.threads, args.connections, args.duration
                )
                for k in KINDS
            }
            rounds.append(row)
            print(
                f"[{kind}] round {r + 1}: "
                + ", ".join(f"{k} {row[k]['rps']:.0f} req/s" for k in KINDS),
                flush=True,
            )
        if rounds:
            throughput = {
                k: {
                    "rps": round(statistics.median(row[k]["rps"] for row in rounds), 1),
                    "loaded_p50_ms": statistics.median(row[k].get("p50_ms", 0) for row in rounds),
                    "loaded_p99_ms": statistics.median(row[k].get("p99_ms", 0) for row in rounds),
                    "rounds_rps": [row[k]["rps"] for row in rounds],
                }
                for k in KINDS
            }
            ratios = {
                f"{k}_to_bare": round(
                    statistics.median(row[k]["rps"] / row["bare"]["rps"] for row in rounds), 3
                )
                for k in ("score", "persist")
            }

        if "batch" in args.parts:
            points = normal_rows(args.batch_points, seed=3).round(4).tolist()
            repeats = args.batch_repeats
            for persist in (False, True):
                body = json.dumps({"points": points, "persist": persist}).encode()
                name = "persist" if persist else "score"
                try:
                    batch[name] = batch_rate(
                        server.port, score_path, body, headers, args.batch_points, repeats
                    )
                except SystemExit as failed:
                    raise SystemExit(f"{failed}\nserver log:\n{server.output()}") from None
            print(f"[{kind}] batch done", flush=True)
        return {
            "load_average_1m": [load_start, round(os.getloadavg()[0], 2)],  # before, after
            "setup": {k: v for k, v in made.items() if k != "token"},
            "latency": latency,
            "throughput": throughput,
            "ratios": ratios,
            "batch": batch,
            "pg_pool": bool(args.pg_pool) if kind == "postgresql" else None,
        }
    finally:
        for one_server in servers:
            one_server.stop()
        if pg_name:
            drop_pg_database(pg_name)


def print_table(results: dict) -> None:
    print()
    header = f"{'':34}" + "".join(f"{db:>14}" for db in results)
    print(header)
    print("-" * len(header))

    def row(label: str, get, spec: str) -> None:
        cells = []
        for data in results.values():
            try:
                cells.append(f"{get(data):>14{spec}}")
            except (KeyError, TypeError):
                cells.append(f"{'-':>14}")
        print(f"{label:34}" + "".join(cells))

    for k, label in (("bare", "bare"), ("score", "score 1 point"), ("persist", "score+store 1")):
        row(f"{label}: p50 ms (sequential)", lambda d, k=k: d["latency"][k]["p50_ms"], ".2f")
        row(f"{label}: p99 ms (sequential)", lambda d, k=k: d["latency"][k]["p99_ms"], ".2f")
    for k, label in (("bare", "bare"), ("score", "score 1 point"), ("persist", "score+store 1")):
        row(f"{label}: req/s (wrk)", lambda d, k=k: d["throughput"][k]["rps"], ".0f")
    row("score / bare req/s", lambda d: d["ratios"]["score_to_bare"], ".2f")
    row("score+store / bare req/s", lambda d: d["ratios"]["persist_to_bare"], ".2f")
    row("batch 10k, no store: points/s", lambda d: d["batch"]["score"]["points_per_s"], ",")
    row("batch 10k, stored: points/s", lambda d: d["batch"]["persist"]["points_per_s"], ",")
    row("load average before", lambda d: d["load_average_1m"][0], ".2f")
    row("load average after", lambda d: d["load_average_1m"][1], ".2f")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="wrk rounds over the 3 endpoints")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn server processes")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk per endpoint")
    parser.add_argument("--latency-requests", type=int, default=2000)
    parser.add_argument("--batch-points", type=int, default=10_000)
    parser.add_argument("--batch-repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=4000, help="training rows")
    parser.add_argument(
        "--no-pg-pool",
        dest="pg_pool",
        action="store_false",
        help="PostgreSQL without DATABASE_POOL (a new connection per request)",
    )
    parser.add_argument(
        "--parts", default="latency,throughput,batch", help="which measurements, comma-separated"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    args.parts = {p.strip() for p in args.parts.split(",")}
    if args.setup:
        print(json.dumps(setup_database(args.rows)))
        return
    if args.quick:
        args.duration, args.rounds, args.warmup = 2, 1, 1
        args.latency_requests, args.batch_repeats, args.rows = 300, 2, 1000
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the throughput runs: apt-get install -y wrk")

    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        for kind in [d.strip() for d in args.databases.split(",") if d.strip()]:
            if kind not in ("sqlite", "postgresql"):
                raise SystemExit(f"unknown database {kind!r}: use sqlite and/or postgresql")
            results[kind] = bench_database(kind, args, Path(tmp))
    print_table(results)
    summary = {
        **results,
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([".venv/bin/python", "bench/api.py", *sys.argv[1:]]),
        "method": {
            "server": f"uvicorn, {args.workers} server processes, 127.0.0.1",
            "latency": f"{args.latency_requests} sequential keep-alive POSTs, one client",
            "throughput": (
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s in all, one "
                "wrk per server process with an equal share, "
                f"{args.rounds} rounds alternating bare/score/persist; ratios per round, median"
            ),
            "batch": f"{args.batch_points} points per POST, median of {args.batch_repeats}",
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

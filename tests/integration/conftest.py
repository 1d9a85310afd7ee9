"""Everything out of process: a temporary VAR_DIR, a migrated database, real Celery workers.

Embedded pass: a SQLite file in VAR_DIR and the filesystem broker. Scale pass (TEST_TIER=scale):
a fresh PostgreSQL database on DATABASE_URL's server (dropped at the end) and Redis as the broker
on another db number of REDIS_URL's server than the cache uses. The test process never uses the
ORM: it reads the rows straight from the database, as an outside observer would.
"""

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCALE = os.environ.get("TEST_TIER") == "scale"
BROKER_DB = 14  # the Redis db of the Celery broker on the scale pass (the cache uses REDIS_URL's)
BROKER_LOCK = "anomaly-worker-test-lock"
# 150k rows x 8 features: the default algorithm trains in ~5-7 s here, progress in 10% steps.
ROWS, FEATURES = 150_000, 8
DONE = {"ready", "failed"}

SETUP = """
import json, tempfile
from pathlib import Path
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from django.contrib.auth import get_user_model
from django.core.files import File
from detection import services

rng = np.random.default_rng(42)
common = rng.normal(size=({rows}, 1))
data = common + 0.5 * rng.normal(size=({rows}, {features}))
names = [f"sensor_{{i}}" for i in range({features})]
alice = get_user_model().objects.create_user("alice", password="alice-worker-pw")
project = services.project_create(owner=alice, name="Alice's plant")
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "readings.parquet"
    pq.write_table(pa.table(dict(zip(names, data.T))), path)
    with path.open("rb") as f:
        dataset = services.dataset_create(
            project=project, user=alice, uploaded_file=File(f, name="readings.parquet")
        )
detector = services.detector_create(
    project=project, user=alice, name="Hall 3", dataset=dataset, features=names
)
print(json.dumps(dict(user=alice.pk, project=project.pk, dataset=dataset.pk, detector=detector.pk)))
"""

QUEUE_TRAINING = """
from detection import services
from detection.models import Detector
print(services.detector_train(detector=Detector.objects.get(pk={detector})).pk)
"""


@dataclass(frozen=True)
class Version:
    status: str
    progress: int
    artifact: str
    error: str
    heartbeat_at: datetime | None
    finished_at: datetime | None


def _when(value) -> datetime | None:
    # SQLite hands back text, PostgreSQL a datetime.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Database:
    """Read-only looks at the rows from the test process (each query sees the latest commit)."""

    def __init__(self, *, sqlite_path: Path | None = None, url: str | None = None):
        if sqlite_path is not None:
            self.connection = sqlite3.connect(sqlite_path, timeout=20, isolation_level=None)
            self.placeholder = "?"
        else:
            import psycopg

            self.connection = psycopg.connect(url, autocommit=True)
            self.placeholder = "%s"

    def one(self, sql: str, *params):
        return self.connection.execute(sql.replace("%s", self.placeholder), params).fetchone()

    def version(self, pk: int) -> Version:
        row = self.one(
            "SELECT status, progress, artifact, error, heartbeat_at, finished_at "
            "FROM detection_modelversion WHERE id = %s",
            pk,
        )
        assert row is not None, f"model version {pk} does not exist"
        status, progress, artifact, error, heartbeat_at, finished_at = row
        return Version(status, progress, artifact, error, _when(heartbeat_at), _when(finished_at))

    def active_version(self, detector: int) -> int | None:
        row = self.one("SELECT active_version_id FROM detection_detector WHERE id = %s", detector)
        return row[0]

    def close(self) -> None:
        self.connection.close()


class Worker:
    """A `celery worker` in its own process group, so that one signal reaches its children."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "anomaly_project",
                "worker",
                "--concurrency=1",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                f"--hostname=test-{log_path.stem}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (the main process and its pool children), once."""
        if self.log.closed:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()


class Stack:
    def __init__(self, var_dir: Path, env: dict[str, str]):
        self.var_dir = var_dir
        self.env = env
        self.db: Database | None = None
        self.workers: list[Worker] = []
        self.ids: dict[str, int] = {}

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code: str):
        """Run code in `manage.py shell -c`; its last line of output is read as JSON."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def queue_training(self) -> int:
        return self.shell(QUEUE_TRAINING.format(detector=self.ids["detector"]))

    def start_worker(self, **extra_env: str) -> Worker:
        log_path = self.var_dir / f"worker-{len(self.workers) + 1}.log"
        worker = Worker({**self.env, **extra_env}, log_path)
        self.workers.append(worker)
        return worker

    def watch(
        self,
        version: int,
        until: Callable[[Version], bool],
        *,
        timeout: float,
        worker: Worker | None = None,
    ) -> list[tuple[float, Version]]:
        """Poll the row every 50 ms; return each state it was seen in (time since start)."""
        started = time.monotonic()
        seen: list[tuple[float, Version]] = []
        while True:
            row = self.db.version(version)
            elapsed = time.monotonic() - started
            if not seen or (row.status, row.progress) != (seen[-1][1].status, seen[-1][1].progress):
                seen.append((round(elapsed, 2), row))
            if until(row):
                return seen
            if worker is not None and not worker.alive():
                pytest.fail(f"the worker exited ({worker.process.returncode}) while watching")
            if elapsed > timeout:
                states = [(t, v.status, v.progress) for t, v in seen]
                pytest.fail(f"version {version}: gave up after {timeout:.0f} s; seen {states}")
            time.sleep(0.05)

    def logs(self) -> str:
        parts = []
        for worker in self.workers:
            if not worker.log.closed:
                worker.log.flush()
            parts.append(f"----- {worker.log_path.name} -----\n{worker.log_path.read_text()}")
        return "\n".join(parts) or "(no worker was started)"

    @contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            print(self.logs())
            raise

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
        if self.db is not None:
            self.db.close()


def _base_env(var_dir: Path) -> dict[str, str]:
    drop = {
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "JOB_HEARTBEAT_TIMEOUT_SECONDS",
        "MEDIA_ROOT",
    }
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        DJANGO_SETTINGS_MODULE="anomaly_project.settings",
        VAR_DIR=str(var_dir),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A fresh database on DATABASE_URL's server; yields its URL and drops it afterwards."""
    import psycopg
    from psycopg import sql

    server = urlparse(os.environ["DATABASE_URL"])
    name = f"anomaly_worker_{secrets.token_hex(4)}"
    # CREATE/DROP DATABASE must be sent from another database: the maintenance one, as Django
    # does for its test databases. Nothing in it is read or written.
    admin = urlunparse(server._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunparse(server._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def _redis_broker() -> Iterator[str]:
    """Redis db BROKER_DB of REDIS_URL's server, held by one run at a time and emptied."""
    import redis

    server = urlparse(os.environ["REDIS_URL"])
    url = urlunparse(server._replace(path=f"/{BROKER_DB}"))
    client = redis.Redis.from_url(url)
    lock = client.lock(BROKER_LOCK, timeout=300, blocking_timeout=240)
    if not lock.acquire():
        pytest.fail(f"another run holds the worker-test broker ({url}) for over 240 s")

    def empty() -> None:  # leftover messages of an earlier run would reach our workers
        for key in client.scan_iter():
            if key.decode() != BROKER_LOCK:
                client.delete(key)

    try:
        empty()
        yield url
    finally:
        empty()
        with suppress(redis.exceptions.LockError):  # expired under a very slow run
            lock.release()
        client.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Migrated, with alice's project, a dataset of ROWS x FEATURES and a detector on it."""
    var_dir = tmp_path_factory.mktemp("var")
    env = _base_env(var_dir)
    with ExitStack() as services:
        if SCALE:
            database_url = services.enter_context(_postgres_database())
            env.update(
                DATABASE_URL=database_url,
                REDIS_URL=os.environ["REDIS_URL"],
                CELERY_BROKER_URL=services.enter_context(_redis_broker()),
            )
        stack = Stack(var_dir, env)
        stack.manage("migrate", "--noinput")
        stack.ids = stack.shell(SETUP.format(rows=ROWS, features=FEATURES))
        stack.db = (
            Database(url=database_url) if SCALE else Database(sqlite_path=var_dir / "db.sqlite3")
        )
        try:
            yield stack
        finally:
            stack.close()

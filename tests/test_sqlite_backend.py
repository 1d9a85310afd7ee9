"""The embedded database checkpoints its WAL in a background thread (anomaly_project/sqlite).

These use their own SQLite file (the test database is in memory, which has no WAL), through a
connection of the project's backend made with the same options as settings.py gives it.
"""

import os
import threading
import time

import pytest
from django.db.utils import ConnectionHandler

from anomaly_project.sqlite import base

ROWS = 3000
ROW_BYTES = 2000  # 6 MB in all: about 1,500 pages of 4 KiB, past SQLite's own 1,000-page trigger


def connect(path):
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "anomaly_project.sqlite",
                "NAME": path,
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        }
    )
    return handler["default"]


def write_batch(connection) -> None:
    connection.set_autocommit(False)
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO t (body) VALUES (%s)", [("x" * ROW_BYTES,)] * ROWS)
    connection.commit()
    connection.set_autocommit(True)


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def database(tmp_path, django_db_blocker):
    path = tmp_path / "db.sqlite3"
    with django_db_blocker.unblock():  # a database of its own, not the test database
        connection = connect(path)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        yield path, connection
        connection.close()
    base._checkpointers.pop(str(path), None)


def test_it_commits_without_copying_the_wal_into_the_database(database, monkeypatch):
    path, connection = database
    nudged = []
    monkeypatch.setattr(base.Checkpointer, "nudge", lambda self: nudged.append(self.path))
    size = path.stat().st_size
    write_batch(connection)
    # The pages are in the WAL only: the commit did not checkpoint them itself.
    assert path.stat().st_size == size
    assert nudged == [str(path)]


def test_its_thread_checkpoints_soon_after_a_commit(database):
    path, connection = database
    checkpointer = base.checkpointer_for(str(path))
    for _ in range(2):  # later commits wake the same thread again
        done, size = checkpointer.checkpoints, path.stat().st_size
        write_batch(connection)
        assert wait_for(
            lambda: checkpointer.checkpoints > done  # noqa: B023
            and path.stat().st_size >= size + ROWS * ROW_BYTES  # noqa: B023
        )


def test_it_leaves_in_memory_databases_alone(transactional_db):
    from django.db import connection, transaction

    if connection.vendor != "sqlite":
        pytest.skip("the scale tier's database is PostgreSQL")
    before = dict(base._checkpointers)
    with transaction.atomic(), connection.cursor() as cursor:  # a real commit
        cursor.execute("SELECT 1")
    assert base._checkpointers == before


def test_its_thread_runs_at_a_lower_priority(database):
    path, connection = database
    write_batch(connection)
    checkpointer = base.checkpointer_for(str(path))
    assert wait_for(lambda: checkpointer.checkpoints >= 1)
    thread = next(t for t in threading.enumerate() if t.name == "sqlite-checkpoint")
    assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == os.getpriority(
        os.PRIO_PROCESS, 0
    ) + base.NICE

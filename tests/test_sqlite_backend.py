"""The embedded database checkpoints its WAL in a background thread, and its writers take turns
without SQLite's sleeping busy handler (anomaly_project/sqlite).

These use their own SQLite file (the test database is in memory, which has no WAL), through a
connection of the project's backend made with the same options as settings.py gives it.
"""

import multiprocessing
import os
import threading
import time

import pytest
from django.db.utils import ConnectionHandler, OperationalError

from anomaly_project.sqlite import base

ROWS = 3000
ROW_BYTES = 2000  # 6 MB in all: about 1,500 pages of 4 KiB, past SQLite's own 1,000-page trigger


def connect(path, timeout: float = 20):
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "anomaly_project.sqlite",
                "NAME": path,
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": timeout,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        }
    )
    return handler["default"]


def write_batch(connection, rows: int = ROWS) -> None:
    connection.set_autocommit(False)
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO t (body) VALUES (%s)", [("x" * ROW_BYTES,)] * rows)
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


def test_after_a_big_checkpoint_the_next_commit_is_checkpointed_at_once(database, monkeypatch):
    # Held back, the next batch's checkpoint ran into the batch after it, and the WAL could not
    # start over (base.Checkpointer._run).
    path, connection = database
    monkeypatch.setattr(base, "MIN_INTERVAL", 30.0)
    checkpointer = base.checkpointer_for(str(path))
    for _ in range(2):
        done = checkpointer.checkpoints
        write_batch(connection)  # about 1,500 pages
        assert wait_for(lambda: checkpointer.checkpoints > done, seconds=5)  # noqa: B023


def test_small_commits_in_a_row_share_a_checkpoint(database, monkeypatch):
    path, connection = database
    monkeypatch.setattr(base, "MIN_INTERVAL", 30.0)
    checkpointer = base.checkpointer_for(str(path))
    write_batch(connection, rows=1)
    assert wait_for(lambda: checkpointer.checkpoints == 1)
    write_batch(connection, rows=1)
    assert not wait_for(lambda: checkpointer.checkpoints > 1, seconds=1)


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


def begin(connection) -> None:
    """BEGIN IMMEDIATE as an outermost atomic block starts it."""
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def end(connection, commit: bool = True) -> None:
    connection.commit() if commit else connection.rollback()
    connection.set_autocommit(True)


# SQLite's busy handler tries again after 1, 3, 8, ... 178, 228 and 328 ms: a writer that waits
# from the start of a 240 ms hold starts about 90 ms after the commit. With turns, at once.
HOLD = 0.24
PROMPT = 0.02


def test_a_waiting_writer_starts_as_soon_as_the_holder_commits(database):
    path, _ = database
    handoffs = []
    holding, waiting = threading.Event(), threading.Event()

    def holder():
        connection = connect(path)
        for _ in range(5):
            begin(connection)
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO t (body) VALUES ('held')")
            holding.set()
            waiting.wait(5)
            waiting.clear()
            time.sleep(HOLD)
            handoffs.append(time.monotonic())
            end(connection)
            holding.clear()
            time.sleep(0.05)  # the waiter now has the turn
        connection.close()

    def waiter():
        connection = connect(path)
        for i in range(5):
            holding.wait(5)
            waiting.set()
            begin(connection)
            started = time.monotonic()
            end(connection)
            handoffs[i] = started - handoffs[i] if i < len(handoffs) else None
        connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(handoffs) == 5 and all(gap is not None for gap in handoffs), handoffs
    assert all(0 <= gap < PROMPT for gap in handoffs), handoffs


def _hold_turn_in_another_process(lock_path: str, ready, release) -> None:
    turns = base.WriterTurns(lock_path.removesuffix("-writer.lock"))
    turns.take(5)
    ready.set()
    release.wait(10)
    turns.give_back()


def test_writers_of_other_processes_take_turns_too(database):
    path, _ = database
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    child = context.Process(
        target=_hold_turn_in_another_process, args=(f"{path}-writer.lock", ready, release)
    )
    child.start()
    try:
        assert ready.wait(10)
        impatient = connect(path, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            begin(impatient)
        assert 0.2 <= time.monotonic() - started < 2
        impatient.set_autocommit(True)
        # Another writer of this process now waits for the other process, not for the
        # impatient one (which gave its place up), and starts when the other one is done.
        patient = connect(path)
        timer = threading.Timer(0.3, release.set)
        timer.start()
        begin(patient)
        assert release.is_set()
        end(patient)
        patient.close()
        impatient.close()
    finally:
        release.set()
        child.join(10)


def test_a_rollback_or_a_closed_connection_gives_the_turn_back(database):
    path, _ = database
    first, second = connect(path, timeout=1), connect(path, timeout=1)
    begin(first)
    end(first, commit=False)
    begin(second)  # would wait 1 s and fail if the rollback had kept the turn
    second.close()  # closed mid-transaction
    begin(first)
    end(first)
    first.close()


def test_a_write_in_autocommit_takes_its_turn_too(database):
    """One statement that commits by itself (a single stored point) waits for the turn like a
    transaction, gives it back after, and waits no longer than the connection's timeout."""
    path, _ = database
    holder, writer = connect(path, timeout=1), connect(path, timeout=0.2)
    begin(holder)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"), writer.writer_turn():
        pytest.fail("the turn was given while another writer held it")
    assert 0.2 <= time.monotonic() - started < 2
    end(holder)
    with writer.writer_turn(), writer.cursor() as cursor:
        cursor.execute("INSERT INTO t (body) VALUES ('one statement')")
    begin(holder)  # would fail after 1 s had the write kept the turn
    end(holder)
    with writer.cursor() as cursor:
        cursor.execute("SELECT body FROM t")
        assert cursor.fetchall() == [("one statement",)]
    writer.close()
    holder.close()

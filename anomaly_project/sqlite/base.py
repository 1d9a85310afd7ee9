"""Django's SQLite backend, with the WAL checkpoints moved off the committing thread.

In WAL mode a commit appends its pages to the -wal file, and the commit that takes the WAL past
1,000 pages (SQLite's default) then copies every page back into the database file itself: a
checkpoint. A stored batch of 10,000 points writes about 1,500 pages, so each such request paid
for a checkpoint of 20-30 ms before it could answer. Here a connection checkpoints on its own
only past SAFETY_NET_PAGES (for when the thread below falls behind), and one thread per process
and database file checkpoints after commits, on its own connection: at most every MIN_INTERVAL
seconds, or right after the commit when the last checkpoint was a big one (see _run). Its
checkpoints are PASSIVE: they never wait for, nor block, readers and writers, and SQLite
releases the GIL while it copies.

Writers also take turns before SQLite sees them (WriterTurns). A write transaction that finds the
database locked waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and so on between
tries: with a few one-point writes a millisecond long in flight, more than one such sleep per
stored point, and the CPUs idle through a quarter of the run (bench/api.py). A lock per process
and a lock on a file beside the database (flock) between processes wake the next writer as soon
as the last one commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time

from django.db.backends.sqlite3 import base

log = logging.getLogger(__name__)

SAFETY_NET_PAGES = 10_000  # about 40 MB of WAL with 4 KiB pages
MIN_INTERVAL = 0.5  # seconds between two checkpoints of one database by one process
BIG_CHECKPOINT_PAGES = 256  # ... unless the last one copied this many pages (1 MB) or more
IDLE_INTERVAL = 5.0  # and at least this often while the process lives (writes in autocommit)
NICE = 10  # the thread's priority: checkpoints are background work


class Checkpointer:
    """Checkpoints one database file's WAL from a daemon thread, started on first use in each
    process (a forked child has a copy of this object but not the thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wake = threading.Event()
        self.checkpoints = 0  # done by this process (read by tests)

    def nudge(self) -> None:
        """Ask for a checkpoint soon; called after each commit, costs an Event.set()."""
        if self._pid != os.getpid():
            self._start()
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._wake = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(self._wake,), name="sqlite-checkpoint", daemon=True
            )
            thread.start()
            self._pid = os.getpid()

    def _run(self, wake: threading.Event) -> None:
        _lower_priority()
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=20)
        last = (0, 0)  # the WAL's pages, and how many of them were copied, after the last one
        while True:
            wake.wait(IDLE_INTERVAL)
            wake.clear()
            copied = 0
            try:
                _, pages, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
                # Fewer pages than last time: the WAL started over in between.
                copied = done if pages < last[0] or done < last[1] else done - last[1]
                last = (pages, done)
            except sqlite3.Error as error:  # the commits' own safety net still holds
                log.warning("WAL checkpoint of %s failed: %s", self.path, error)
            # Several small commits in a row get one checkpoint between them. After a big one
            # the next commit is checkpointed at once: SQLite starts the WAL over only for a
            # write that begins after a checkpoint that left nothing to copy, and with big
            # batches one after another a checkpoint held back for MIN_INTERVAL ran into the
            # next batch every time. The WAL then grew by each batch until a commit passed
            # SAFETY_NET_PAGES and checkpointed by itself: 18-78 ms in three or four commits of
            # 17 stored batches of 10,000 points, the others 2-8 ms (docs/BENCHMARKS.md).
            if copied < BIG_CHECKPOINT_PAGES:
                time.sleep(MIN_INTERVAL)


def _lower_priority() -> None:
    """Let requests have the CPU first: on Linux a thread has its own nice value."""
    # Elsewhere, or when not allowed, it runs at the usual priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


_checkpointers: dict[str, Checkpointer] = {}
_registry_lock = threading.Lock()


def _one_per_path(registry: dict, make, path: str):
    """The registry's object for this database file, made on first use."""
    with _registry_lock:
        found = registry.get(path)
        if found is None:
            found = registry[path] = make(path)
        return found


def checkpointer_for(path: str) -> Checkpointer:
    return _one_per_path(_checkpointers, Checkpointer, path)


# How often a writer looks again while another process has the turn (seconds).
TURN_POLL_INTERVAL = 0.0002


class WriterTurns:
    """One write transaction at a time on a database file, across this process's threads and
    every process that uses this backend; a waiter gets its turn as soon as it is free, or
    "database is locked" after the connection's timeout, as from SQLite itself."""

    def __init__(self, path: str) -> None:
        self.lock_path = path + "-writer.lock"
        self._pid: int | None = None

    def _start(self) -> None:
        # Per process: a forked child must not inherit the parent's lock state or open file.
        with _registry_lock:
            if self._pid != os.getpid():
                self._threads = threading.Lock()
                self._file = open(self.lock_path, "a+b")  # noqa: SIM115
                self._pid = os.getpid()

    def take(self, timeout: float) -> None:
        if self._pid != os.getpid():
            self._start()
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            while True:
                try:
                    fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise sqlite3.OperationalError("database is locked") from None
                    time.sleep(TURN_POLL_INTERVAL)
        except BaseException:
            self._threads.release()
            raise

    def give_back(self) -> None:
        try:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_writer_turns: dict[str, WriterTurns] = {}


def writer_turns_for(path: str) -> WriterTurns:
    return _one_per_path(_writer_turns, WriterTurns, path)


class DatabaseWrapper(base.DatabaseWrapper):
    _turns: WriterTurns | None = None  # held from BEGIN to COMMIT or ROLLBACK

    def _take_turn(self) -> WriterTurns:
        turns = writer_turns_for(str(self.settings_dict["NAME"]))
        with self.wrap_database_errors:
            turns.take(self.settings_dict["OPTIONS"].get("timeout", 5.0))
        return turns

    def _nudge_checkpointer(self) -> None:
        checkpointer_for(str(self.settings_dict["NAME"])).nudge()

    def _start_transaction_under_autocommit(self):
        if not self.is_in_memory_db():
            self._turns = self._take_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._give_back_turn()
            raise

    def _give_back_turn(self) -> None:
        turns, self._turns = self._turns, None
        if turns is not None:
            turns.give_back()

    def _rollback(self):
        try:
            super()._rollback()
        finally:
            self._give_back_turn()

    def _close(self):
        try:
            super()._close()  # a transaction still open is rolled back
        finally:
            self._give_back_turn()

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if not self.is_in_memory_db():
            connection.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
        return connection

    def _commit(self):
        try:
            super()._commit()
        finally:
            self._give_back_turn()
        if not self.is_in_memory_db():
            self._nudge_checkpointer()

    @contextlib.contextmanager
    def writer_turn(self):
        """The writer turn around one statement that writes in autocommit mode (it is its own
        transaction), so that it meets other writers here and not in SQLite's busy handler.
        Inside a transaction the turn is already held, from BEGIN."""
        if self.is_in_memory_db() or not self.get_autocommit():
            yield
            return
        self.ensure_connection()
        turns = self._take_turn()
        try:
            yield
        finally:
            turns.give_back()
        self._nudge_checkpointer()

"""Training through a real Celery worker process, watched from outside through the database.

The story: alice queues a training run while no worker is up (it waits, queued); a worker starts
and takes it; its progress shows in the row while it fits; it ends ready and serving. Her second
run is half done when the worker is killed with SIGKILL: the row stays "running" with nobody left
to finish it, until the next worker to start sweeps it as failed once its heartbeat is older than
JOB_HEARTBEAT_TIMEOUT_SECONDS, and the first model keeps serving.
"""

import itertools
import time

from tests.integration.conftest import DONE, Stack

HEARTBEAT_TIMEOUT = 10  # the settings' minimum
RECOVERY_BOUND = 40  # seconds from the kill to a version that is no longer "running"


def test_it_trains_on_a_real_worker_and_sweeps_a_run_whose_worker_was_killed(stack: Stack):
    detector = stack.ids["detector"]
    with stack.logs_on_failure():
        # 1. Queued with no worker up: the row waits.
        first = stack.queue_training()
        assert stack.db.version(first).status == "queued"

        # 2. A worker takes it; progress moves while it fits; it ends ready and serving.
        worker = stack.start_worker()
        seen = stack.watch(first, lambda v: v.status in DONE, timeout=120, worker=worker)
        timeline = [(t, v.status, v.progress) for t, v in seen]
        statuses = [status for status, _ in itertools.groupby(v.status for _, v in seen)]
        assert statuses == ["queued", "running", "ready"], timeline
        progress = sorted({v.progress for _, v in seen if v.status == "running"} - {0, 100})
        assert len(progress) >= 2, f"progress was not visible while running: {timeline}"
        print(f"first run: {timeline}")
        ready = stack.db.version(first)
        assert (ready.progress, ready.error) == (100, "")
        assert ready.artifact and (stack.var_dir / "media" / ready.artifact).is_file()
        assert stack.db.active_version(detector) == first

        # 3. The second run is killed mid-fit, with its worker's whole process group.
        second = stack.queue_training()
        stack.watch(
            second, lambda v: v.status == "running" and v.progress > 0, timeout=60, worker=worker
        )
        worker.kill()
        orphan = stack.db.version(second)
        assert orphan.status == "running" and 0 < orphan.progress < 100, orphan
        time.sleep(1)
        assert stack.db.version(second) == orphan, "something still works on the killed run"

        # 4. The next worker to start sweeps it once its heartbeat is stale.
        killed_at = time.monotonic()
        stack.start_worker(JOB_HEARTBEAT_TIMEOUT_SECONDS=str(HEARTBEAT_TIMEOUT))
        seen = stack.watch(second, lambda v: v.status != "running", timeout=RECOVERY_BOUND)
        recovered_after = time.monotonic() - killed_at
        final = stack.db.version(second)
        print(f"second run: {final.status} {recovered_after:.1f} s after the kill: {final.error}")
        assert final.status in DONE, final
        if final.status == "failed":
            assert "stopped reporting" in final.error, final.error
            silent = (final.finished_at - orphan.heartbeat_at).total_seconds()
            assert silent >= HEARTBEAT_TIMEOUT, f"swept after only {silent:.1f} s of silence"
            assert stack.db.active_version(detector) == first
        else:  # redelivered and trained again
            assert stack.db.active_version(detector) == second

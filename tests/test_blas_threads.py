"""The project's processes run OpenBLAS with one thread unless the operator sets another number
(anomaly_project/settings.py). Each check starts a fresh interpreter: OpenBLAS reads its thread
count once, when numpy loads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Starts as a kind of process does, then reports the thread count of each OpenBLAS loaded.
SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
{start}
from threadpoolctl import threadpool_info
print(json.dumps(sorted({{i["num_threads"] for i in threadpool_info()
                         if i["internal_api"] == "openblas"}})))
"""

WEB = "import anomaly_project.asgi"  # it imports the URLs, so the views and the engine
# What `celery -A anomaly_project worker` does before a task runs.
WORKER = "import anomaly_project.celery, django; django.setup(); import detection.tasks, numpy"
# A management command (`check` imports the URLs, so the views and the engine).
COMMAND = "import django; django.setup(); django.core.management.call_command('check')"
NO_SETTINGS = "import numpy"


def blas_threads(start: str, **env) -> list[int]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    clean.setdefault("DJANGO_SETTINGS_MODULE", "anomaly_project.settings")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT), start=start)],
        capture_output=True,
        text=True,
        check=True,
        env=clean | env,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# OpenBLAS never takes more threads than there are CPUs: on one CPU these cannot tell.
needs_two_cpus = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPUs or more")


@needs_two_cpus
def test_it_gives_openblas_one_thread_in_every_kind_of_process():
    assert blas_threads(NO_SETTINGS)[0] > 1  # OpenBLAS's own default: a thread per CPU
    assert blas_threads(WEB) == [1]
    assert blas_threads(WORKER) == [1]
    assert blas_threads(COMMAND, DEBUG="true") == [1]  # DEBUG: no SECRET_KEY needed


@needs_two_cpus
def test_it_leaves_the_operators_own_thread_count_alone():
    assert blas_threads(WEB, OPENBLAS_NUM_THREADS="2") == [2]

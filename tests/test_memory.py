"""The web and worker processes keep freed memory for the next batch (anomaly_project/memory.py).

Each check runs in a fresh interpreter: allocator settings are per process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Allocates 60 MB in 1 KB pieces (from the heap, below the mmap threshold), frees them all, and
# prints how much of that the process still holds.
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from anomaly_project.memory import keep_freed_memory
applied = keep_freed_memory() if {apply} else None

def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

before = resident_mb()
pieces = [bytes(1024) for _ in range(60_000)]
del pieces
print(applied, round(resident_mb() - before))
"""


def run(apply: bool, **env) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT), apply=apply)],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux's /proc")
def test_it_keeps_freed_memory_for_the_next_batch():
    applied, kept = run(apply=True)
    assert applied == "True"
    assert kept >= 50, f"only {kept} MB of 60 MB freed stayed in the process"
    _, kept_by_default = run(apply=False)
    assert kept_by_default < 20, f"glibc's defaults kept {kept_by_default} MB"


def test_it_leaves_the_operators_own_malloc_settings_alone():
    assert run(apply=True, MALLOC_TRIM_THRESHOLD_="131072")[0] == "False"

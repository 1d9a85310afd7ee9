"""The engine must stay importable without Django (and without our apps)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_imports_without_django():
    code = (
        "import sys, detection.engine; "
        "assert 'django' not in sys.modules, 'django was imported'; "
        "assert not any(m.split('.')[0] in ('alerts', 'reports', 'anomaly_project') "
        "for m in sys.modules), 'an app was imported'; "
        "print('ok')"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_it_keeps_scikit_learn_out_of_a_bare_import():
    """Forms and validation import the engine on the web path; fitting pulls in scikit-learn."""
    code = "import sys, detection.engine; print('sklearn' in sys.modules)"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

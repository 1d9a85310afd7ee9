"""Which tier a test run is on, and a loud stop when the scale tier's services do not answer."""

import os
import socket
from urllib.parse import urlparse

import pytest

START_COMMANDS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
}


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def missing_scale_services() -> list[str]:
    missing = []
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url or not _answers(database_url, 5432):
        missing.append(f"PostgreSQL ({database_url or 'DATABASE_URL unset'})")
    if not redis_url or not _answers(redis_url, 6379):
        missing.append(f"Redis ({redis_url or 'REDIS_URL unset'})")
    return missing


def require_scale_services() -> None:
    """Under CI=true a missing service fails the run; elsewhere the scale pass is skipped."""
    missing = missing_scale_services()
    if not missing:
        return
    hint = "; ".join(f"{name}: {command}" for name, command in START_COMMANDS.items())
    message = f"scale tier: no answer from {', '.join(missing)}. Start them with: {hint}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.exit(f"FAILED: {message}", returncode=1)
    pytest.exit(f"SKIPPED the scale pass: {message}", returncode=0)

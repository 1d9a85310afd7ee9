"""Settings tiers and deploy checks, read in fresh processes: the environment is the only input."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as live_settings

ROOT = Path(__file__).resolve().parent.parent
SCALE = os.environ.get("TEST_TIER") == "scale"

SUMMARY = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "db": s.DATABASES["default"]["ENGINE"],
    "db_name": str(s.DATABASES["default"]["NAME"]),
    "cache": s.CACHES["default"]["BACKEND"],
    "layer": s.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": s.CELERY_BROKER_URL,
    "mailer": s.MAILERS["default"]["BACKEND"],
    "cors": s.CORS_ALLOWED_ORIGINS,
    "db_options": s.DATABASES["default"].get("OPTIONS", {}),
}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env["DJANGO_SETTINGS_MODULE"] = "anomaly_project.settings"
    env.update(extra)
    return env


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_clean_env(**env), capture_output=True, text=True
    )


def _summary(**env: str) -> dict:
    result = _run(["-c", SUMMARY], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_needs_no_services_by_default(tmp_path):
    summary = _summary(VAR_DIR=str(tmp_path))
    assert summary["db"] == "anomaly_project.sqlite"  # Django's, checkpointing in a thread
    assert summary["db_name"] == str(tmp_path / "db.sqlite3")
    assert summary["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert summary["layer"] == "channels.layers.InMemoryChannelLayer"
    assert summary["broker"] == "filesystem://"
    assert summary["mailer"] == "django.core.mail.backends.console.EmailBackend"
    assert summary["cors"] == []


def test_it_moves_to_postgres_and_redis_by_environment():
    summary = _summary(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anomaly",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/1",
        EMAIL_HOST="127.0.0.1",
        CORS_ALLOWED_ORIGINS="https://a.example, https://b.example",
    )
    assert summary["db"] == "django.db.backends.postgresql"
    assert summary["db_name"] == "anomaly"
    assert summary["cache"] == "django_redis.cache.RedisCache"
    assert summary["layer"] == "channels_redis.core.RedisChannelLayer"
    assert summary["broker"] == "redis://127.0.0.1:6379/1"
    assert summary["mailer"] == "django.core.mail.backends.smtp.EmailBackend"
    assert summary["cors"] == ["https://a.example", "https://b.example"]
    assert summary["db_options"] == {"prepare_threshold": 2}  # the per-request lookups


def test_it_leaves_prepared_statements_off_for_a_pooler_in_transaction_mode():
    summary = _summary(
        DATABASE_URL="postgres://postgres@127.0.0.1:6432/anomaly",
        DATABASE_POOL="true",
        DATABASE_PREPARED_STATEMENTS="false",
    )
    assert summary["db_options"] == {"pool": True}


def test_it_names_a_malformed_variable():
    result = _run(["-c", SUMMARY], DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "ALLOWED_HOSTS": "anomaly.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://anomaly.example.org",
    "EMAIL_HOST": "smtp.example.org",
}


def test_it_passes_the_deploy_check_in_production_like_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=secrets.token_urlsafe(50),
        VAR_DIR=str(tmp_path),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("key", [None, "short", "django-insecure-" + "x" * 60])
def test_it_refuses_a_missing_or_weak_secret_key_when_debug_is_off(tmp_path, key):
    env = dict(PRODUCTION, VAR_DIR=str(tmp_path))
    if key is not None:
        env["SECRET_KEY"] = key
    result = _run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert "anomaly.E001" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_it_allows_the_development_key_in_debug(tmp_path):
    result = _run(["manage.py", "check"], DEBUG="true", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_it_talks_to_the_database_of_its_tier():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.vendor == ("postgresql" if SCALE else "sqlite")


def test_it_round_trips_through_the_cache_of_its_tier():
    from django.core.cache import cache

    key = f"tier-check-{secrets.token_hex(4)}"
    cache.set(key, {"n": 1}, timeout=30)
    assert cache.get(key) == {"n": 1}
    cache.delete(key)
    expected = "django_redis" if SCALE else "locmem"
    assert expected in live_settings.CACHES["default"]["BACKEND"].lower()


@pytest.mark.asyncio
async def test_it_round_trips_through_the_channel_layer_of_its_tier():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("tier-check", channel)
    await layer.group_send("tier-check", {"type": "tier.check", "n": 2})
    assert (await layer.receive(channel))["n"] == 2
    await layer.group_discard("tier-check", channel)
    assert type(layer).__name__ == ("RedisChannelLayer" if SCALE else "InMemoryChannelLayer")

"""Shared fixtures: the story's people (alice owns a project, bob views it, charlie is a stranger).

Two passes run the same tests: the embedded tier (no environment) and the scale tier
(TEST_TIER=scale with DATABASE_URL and REDIS_URL pointing at the real PostgreSQL and Redis).
"""

import os

import pytest

from tests.tiers import require_scale_services

SCALE = os.environ.get("TEST_TIER") == "scale"


def pytest_sessionstart(session):
    if SCALE:
        require_scale_services()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-password")


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", "charlie@example.org", "charlie-pw")


@pytest.fixture
def project(alice, bob):
    """Alice's project; bob is a viewer in it."""
    from detection import services
    from detection.models import Membership, Role

    project = services.project_create(owner=alice, name="Alice's plant", description="Sensors")
    Membership.objects.create(project=project, user=bob, role=Role.VIEWER)
    return project


def _logged_in_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice):
    return _logged_in_client(alice)


@pytest.fixture
def bob_client(bob):
    return _logged_in_client(bob)


@pytest.fixture
def charlie_client(charlie):
    return _logged_in_client(charlie)


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    # Real hashing costs ~0.3 s a user; the tests are about access, not about PBKDF2. Only
    # database tests make users, and the engine's tests run without Django at all.
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

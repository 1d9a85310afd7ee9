"""Token authentication answers as DRF's does, from one SQL statement per request."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from detection import services
from detection.api.authentication import TokenAuthentication

pytestmark = pytest.mark.django_db


def _projects(client, key: str):
    return client.get(reverse("api-project-list"), headers={"Authorization": f"Token {key}"})


def test_a_token_signs_its_user_in_with_one_query(client, alice, project):
    key = services.api_token_create(user=alice).key
    with CaptureQueriesContext(connection) as queries:
        user, token = TokenAuthentication().authenticate_credentials(key)
    assert len(queries) == 1
    assert (user.pk, user.username, token.key, token.user) == (alice.pk, "alice", key, user)
    # Columns come back converted as the ORM converts them.
    assert user.is_active is True and user.is_superuser is False
    assert isinstance(user.date_joined, datetime.datetime) and user.date_joined.tzinfo is not None
    assert _projects(client, key).json()[0]["id"] == project.pk


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("revoke", "Invalid token."),
        ("deactivate", "User inactive or deleted."),
        ("wrong key", "Invalid token."),
    ],
)
def test_it_refuses_at_once_a_revoked_token_or_an_inactive_user(client, alice, change, message):
    key = services.api_token_create(user=alice).key
    assert _projects(client, key).status_code == 200
    if change == "revoke":
        alice.auth_token.delete()
    elif change == "deactivate":
        alice.is_active = False
        alice.save()
    else:
        key = key[:-1] + ("0" if key[-1] != "0" else "1")
    refused = _projects(client, key)
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "authentication_failed",
        "message": message,
        "fields": {},
    }
    assert refused.headers["WWW-Authenticate"] == "Token"

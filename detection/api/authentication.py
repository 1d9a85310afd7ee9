"""Token authentication for scripts: DRF's, with its lookup written as one SQL statement.

Every API request from a script starts here. DRF's TokenAuthentication looks the token up with
`Token.objects.select_related("user").get(key=...)`, and building and compiling that query cost
about 1.4 ms, a fifth of a one-point scoring request (bench/api.py); the statement below is built
once from the models' metadata and costs about 0.15 ms. It runs on every request (nothing is
cached), so a revoked token or a deactivated user is refused at once, as with DRF's class.

A view that names a `detector_kwarg` (the scoring endpoints, called once per point) gets its
detector, the user's role and the active version from the same statement, as `detector_row`:
without it, a one-point request made a second round trip to the database, which on PostgreSQL
cost more than the scoring itself. That statement loads only the user's name and active flag
(what those views read; the other fields are deferred), as it loads only the detector's
DETECTOR_FIELDS: each column costs a conversion, and on SQLite a release of the GIL.
"""

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from detection.access import (
    DETECTOR_EXTRA,
    DETECTOR_FIELDS,
    detector_columns_sql,
    detector_joins_sql,
)
from detection.models import Detector
from detection.rawsql import RowLookup, selected_fields


def _scoring_user_fields() -> tuple[str, ...]:
    return (get_user_model().USERNAME_FIELD, "is_active")


def _user_columns_sql(q, names: tuple[str, ...] | None = None) -> str:
    return ", ".join(f"u.{q(field.column)}" for field in selected_fields(get_user_model(), names))


def _users_with_token_sql(q) -> str:
    """The users (`u`) joined to their tokens (`t`)."""
    user_model = get_user_model()
    return (
        f"{q(user_model._meta.db_table)} u "
        f"JOIN {q(Token._meta.db_table)} t ON t.{q('user_id')} = u.{q(user_model._meta.pk.column)}"
    )


def _user_by_token_sql() -> str:
    q = connection.ops.quote_name
    return f"SELECT {_user_columns_sql(q)} FROM {_users_with_token_sql(q)} WHERE t.{q('key')} = %s"


def _user_and_detector_by_token_sql() -> str:
    q = connection.ops.quote_name
    user_id = f"u.{q(get_user_model()._meta.pk.column)}"
    return (
        f"SELECT {_user_columns_sql(q, _scoring_user_fields())}, {detector_columns_sql(q)} "
        f"FROM {_users_with_token_sql(q)} "
        f"LEFT JOIN {q(Detector._meta.db_table)} d ON d.{q('id')} = %s "
        f"{detector_joins_sql(q, user_id)} WHERE t.{q('key')} = %s"
    )


# Made on first use: DRF may import this module while the apps are still loading.
@functools.cache
def _user_by_token() -> RowLookup:
    return RowLookup([get_user_model()], _user_by_token_sql)


@functools.cache
def _user_and_detector_by_token() -> RowLookup:
    return RowLookup(
        [(get_user_model(), _scoring_user_fields()), (Detector, DETECTOR_FIELDS)],
        _user_and_detector_by_token_sql,
        DETECTOR_EXTRA,
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, with DRF's answers: 401 "Invalid token." or "User inactive
    or deleted.", and `request.auth` the token."""

    _view = None

    def authenticate(self, request):
        # DRF makes an instance per request, so the view can be kept here for the lookup.
        self._view = (getattr(request, "parser_context", None) or {}).get("view")
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        kwarg = getattr(self._view, "detector_kwarg", None)
        if kwarg is None:
            row = _user_by_token().one([key])
        else:
            row = _user_and_detector_by_token().one([self._view.kwargs[kwarg], key])
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = row[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if kwarg is not None:
            self._view.detector_row = row[1]  # None: no such detector (the view answers 404)
        token = Token.from_db(user._state.db, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token

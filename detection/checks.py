"""System checks for settings that are dangerous when wrong, with a hint that says what to set."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY or ""
    if key == settings.DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure") or len(key) < 50:
        return [
            Error(
                "SECRET_KEY is missing, too short or the public development key, and DEBUG is off.",
                hint="Set SECRET_KEY to a random string of at least 50 characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="anomaly.E001",
            )
        ]
    return []

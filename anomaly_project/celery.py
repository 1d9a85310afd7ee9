"""The Celery application. Tasks live in each app's tasks.py and are thin wrappers over services."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomaly_project.settings")

app = Celery("anomaly_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_filesystem_broker_folder() -> None:
    # kombu's filesystem transport expects its folder to exist already.
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        Path(settings.CELERY_BROKER_FOLDER).mkdir(parents=True, exist_ok=True)


_ensure_filesystem_broker_folder()

"""The Celery application. Tasks live in each app's tasks.py and are thin wrappers over services."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_process_init

from anomaly_project.memory import keep_freed_memory

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


@worker_process_init.connect
def _keep_freed_memory(**kwargs) -> None:
    # Batch scoring jobs churn through memory as big web batches do (anomaly_project/memory.py).
    keep_freed_memory()

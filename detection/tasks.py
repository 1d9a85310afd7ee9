"""Celery tasks: thin wrappers that load a row by id, call a service and log. Schedule them with
transaction.on_commit so that a worker never looks for a row that is not committed yet."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from detection import services
from detection.models import Dataset

logger = logging.getLogger(__name__)


@shared_task(name="detection.dataset_profile")
def dataset_profile_task(dataset_id: int) -> None:
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        logger.info("Dataset %s is gone; no profile to compute", dataset_id)
        return
    dataset = services.dataset_profile_compute(dataset=dataset)
    logger.info("Profile of dataset %s: %s", dataset_id, dataset.profile_status)


@shared_task(name="detection.train_model_version")
def train_model_version_task(version_id: int) -> None:
    services.model_version_run(version_id=version_id)


@shared_task(name="detection.sweep_stalled_jobs")
def sweep_stalled_jobs_task() -> int:
    return services.model_versions_sweep() + services.scoring_jobs_sweep()


@worker_ready.connect
def _sweep_when_a_worker_starts(**kwargs) -> None:
    # A worker that died mid-training left its version "running"; the next one to start
    # sweeps it at once instead of waiting for the periodic sweep, and once more when a
    # heartbeat from just before this start has gone stale: a restarted worker is often up
    # within seconds of the crash, and no beat may be running to sweep later.
    sweep_stalled_jobs_task.delay()
    sweep_stalled_jobs_task.apply_async(countdown=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS + 1)


@shared_task(name="detection.score_job")
def scoring_job_task(job_id: int) -> None:
    services.scoring_job_run(job_id=job_id)

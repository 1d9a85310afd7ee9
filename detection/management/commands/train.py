"""Train a detector in this process (no worker needed) and print how it went."""

import json

from django.core.management.base import BaseCommand, CommandError

from detection import services
from detection.models import Detector, JobStatus


class Command(BaseCommand):
    help = "Train a detector on its dataset now, in this process, and make the result active."

    def add_arguments(self, parser):
        parser.add_argument("detector", type=int, help="the detector's id")

    def handle(self, *args, detector: int, **options):
        found = Detector.objects.filter(pk=detector).first()
        if found is None:
            raise CommandError(f"No detector with id {detector}.")
        version = services.detector_train(detector=found, enqueue=False)
        self.stdout.write(f"Training {found.name} v{version.number} ({version.algorithm}) ...")
        version = services.model_version_run(version_id=version.pk)
        if version.status != JobStatus.READY:
            raise CommandError(f"Training failed: {version.error}")
        metrics = version.training_metrics
        self.stdout.write(
            self.style.SUCCESS(
                f"v{version.number} ready in {metrics.get('fit_seconds')} s on "
                f"{metrics.get('n_rows')} rows; it is now active."
            )
        )
        if version.evaluation_metrics:
            self.stdout.write("On the dataset's labels: " + json.dumps(version.evaluation_metrics))

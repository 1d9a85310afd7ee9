"""Score a file with a detector in this process and write the results as CSV."""

import shutil
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from detection import services
from detection.models import Detector, JobStatus


class Command(BaseCommand):
    help = "Score a CSV/JSON/Parquet file with a detector's active model; write a results CSV."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the points to score")
        parser.add_argument("--detector", type=int, required=True, help="the detector's id")
        parser.add_argument(
            "--output", type=Path, help="where to write the CSV (default: FILE-scored.csv)"
        )
        parser.add_argument("--persist", action="store_true", help="also store the points")

    def handle(
        self, *args, file: Path, detector: int, output: Path | None, persist: bool, **options
    ):
        found = Detector.objects.select_related("active_version").filter(pk=detector).first()
        if found is None:
            raise CommandError(f"No detector with id {detector}.")
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        try:
            with file.open("rb") as handle:
                job = services.scoring_job_create(
                    detector=found,
                    user=None,
                    uploaded_file=File(handle, name=file.name),
                    persist=persist,
                    enqueue=False,
                )
        except services.NoReadyModel as error:
            raise CommandError(str(error.detail)) from None
        job = services.scoring_job_run(job_id=job.pk)
        if job.status != JobStatus.READY:
            raise CommandError(f"Scoring failed: {job.error}")
        output = output or file.with_name(f"{file.stem}-scored.csv")
        with job.result_file.open("rb") as result, output.open("wb") as out:
            shutil.copyfileobj(result, out)
        self.stdout.write(
            self.style.SUCCESS(
                f"{job.rows_total} rows scored, {job.anomalies} anomalies; results in {output}"
            )
        )

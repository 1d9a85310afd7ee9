"""Import a table file (CSV, JSON or Parquet) into a project, as an upload through the API would."""

from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from detection import services
from detection.models import Project
from detection.tabular import TableError


class Command(BaseCommand):
    help = (
        "Import a CSV, JSON or Parquet file as a dataset of a project. Prints the dataset id and "
        "its columns; exits non-zero with the problems when the file cannot be used. No upload "
        "size limit applies here."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the file to import")
        parser.add_argument("--project", type=int, required=True, help="the project's id")
        parser.add_argument("--name", help="the dataset's name (default: the file name)")
        parser.add_argument("--label-column", help="a 0/1 column marking anomalies")
        parser.add_argument("--timestamp-column", help="a column of dates/times")
        parser.add_argument(
            "--profile",
            action="store_true",
            help="compute the profile here and now rather than in a Celery worker",
        )

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with id {options['project']}.")
        with path.open("rb") as f:
            try:
                dataset = services.dataset_create(
                    project=project,
                    user=None,
                    uploaded_file=File(f, name=path.name),
                    name=options["name"],
                    label_column=options["label_column"],
                    timestamp_column=options["timestamp_column"],
                )
            except TableError as error:
                raise CommandError(
                    f"{path.name} cannot be used:\n  " + "\n  ".join(error.errors)
                ) from None
        self.stdout.write(
            self.style.SUCCESS(f"Dataset {dataset.pk} “{dataset.name}”: {dataset.row_count} rows")
        )
        for column in dataset.columns:
            role = ""
            if column["name"] == dataset.label_column:
                role = "  (label)"
            elif column["name"] == dataset.timestamp_column:
                role = "  (timestamp)"
            elif column["name"] in dataset.feature_columns:
                role = "  (feature)"
            self.stdout.write(
                f"  {column['name']}: {column['kind']}, {column['missing']} missing{role}"
            )
        if options["profile"]:
            dataset = services.dataset_profile_compute(dataset=dataset)
            self.stdout.write(f"Profile: {dataset.profile_status} {dataset.profile_error}".rstrip())

"""Score every labelled CSV in a folder with every detector and print accuracy and calibration."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detection import engine


class Command(BaseCommand):
    help = (
        "Evaluate the detectors on labelled CSV files (feature columns plus `label`, 1 = anomaly): "
        "ROC-AUC, average precision, F1 at the medium sensitivity, and the calibration check."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a folder of labelled CSV files")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object instead"
        )
        parser.add_argument(
            "--detectors", help="comma-separated algorithm names (default: all and the default)"
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, path: Path, as_json: bool, detectors: str | None, seed: int, **options):
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder of labelled CSV files.")
        names = [d.strip() for d in detectors.split(",")] if detectors else None
        try:
            result = engine.evaluate_folder(path, detectors=names, random_state=seed)
        except engine.EngineError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(result) if as_json else engine.format_evaluation(result))

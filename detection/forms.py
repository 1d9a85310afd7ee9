import math

from django import forms

from detection import engine
from detection.models import Dataset

# The slider of the sensitivity control runs over the calibrated score threshold; a false-alarm
# rate r is the threshold -25 log10(r), so 8 .. 100 covers the engine's 0.5 .. 0.0001.
THRESHOLD_MIN, THRESHOLD_MAX, THRESHOLD_STEP = 8.0, 100.0, 0.5
SENSITIVITY_CHOICES = [
    ("low", "Low: about 0.1% of normal points flagged"),
    ("medium", "Medium: about 1%"),
    ("high", "High: about 5%"),
]


def rate_for_threshold(threshold: float) -> float:
    return 10 ** (-threshold / 25)


def sensitivity_for_threshold(threshold: float) -> str | float:
    """A preset's name when the threshold is (within a slider step of) the preset's, else the
    false-alarm rate."""
    for name, rate in engine.SENSITIVITY_PRESETS.items():
        if abs(engine.threshold_for(rate) - threshold) <= THRESHOLD_STEP / 2 + 1e-9:
            return name
    return rate_for_threshold(threshold)


def preset_name(rate: float) -> str | None:
    for name, preset in engine.SENSITIVITY_PRESETS.items():
        if math.isclose(rate, preset, rel_tol=1e-9):
            return name
    return None


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class DetectorForm(forms.Form):
    """A new detector: the dataset's numeric columns are the feature choices."""

    name = forms.CharField(max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), empty_label=None)
    features = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one feature."},
    )
    algorithm = forms.ChoiceField(
        choices=[(spec.name, spec.label) for spec in engine.ALGORITHMS.values()],
        initial=engine.DEFAULT_ALGORITHM,
    )
    sensitivity = forms.ChoiceField(choices=SENSITIVITY_CHOICES, initial="medium")

    def __init__(self, *args, project, dataset_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = Dataset.objects.filter(project=project).defer("profile")
        self.fields["dataset"].queryset = datasets
        chosen = None
        wanted = self.data.get("dataset") if self.is_bound else dataset_id
        if wanted:
            chosen = datasets.filter(pk=str(wanted)).first() if str(wanted).isdigit() else None
        chosen = chosen or datasets.first()
        self.chosen_dataset = chosen
        columns = chosen.feature_columns if chosen else []
        self.fields["features"].choices = [(name, name) for name in columns]
        if chosen is not None:
            self.initial.setdefault("dataset", chosen.pk)
            self.initial.setdefault("features", columns)


class DatasetUploadForm(forms.Form):
    file = forms.FileField(
        allow_empty_file=True,  # the parser says "the file is empty", like other problems
        help_text="CSV (UTF-8 with a header row), JSON or Parquet.",
        error_messages={"required": "Choose a file to upload."},
    )
    name = forms.CharField(max_length=200, required=False)
    label_column = forms.CharField(
        max_length=200,
        required=False,
        help_text="0/1 or true/false, 1 = anomaly. A column named `label` is taken by default.",
    )
    timestamp_column = forms.CharField(
        max_length=200,
        required=False,
        help_text="Dates or times. A column named timestamp, time or date is taken by default.",
    )


class SensitivityForm(forms.Form):
    threshold = forms.FloatField(min_value=THRESHOLD_MIN, max_value=THRESHOLD_MAX)

    @property
    def sensitivity(self) -> str | float:
        return sensitivity_for_threshold(self.cleaned_data["threshold"])

"""Dashboard pages. Thin: access from detection.access, reads from detection.selectors, writes
from detection.services.

One template per screen; an HTMX request for a section (its id is the request's HX-Target)
gets that section's `{% partialdef %}` only, the same one the page renders and the WebSocket
consumers push.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError

from detection import engine, selectors, services
from detection.access import Need, check_access
from detection.forms import (
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    THRESHOLD_STEP,
    DatasetUploadForm,
    DetectorForm,
    ProjectForm,
    SensitivityForm,
    preset_name,
)
from detection.models import Dataset, Detector, JobStatus, Label, ScoredPoint
from detection.services.dashboard import sensitivity_preview
from detection.tabular import TableError
from detection.uploads import limit_upload

OVERVIEW = "detection/overview.html"
PROJECT = "detection/project_detail.html"
DETECTOR = "detection/detector_detail.html"
DATASET = "detection/dataset_detail.html"
UPLOAD = "detection/dataset_upload.html"


def _section(request, allowed: set[str]) -> str | None:
    """The partial an HTMX GET asks for (by the id of its target), if it is one of ours."""
    if request.htmx and request.method == "GET":
        target = request.htmx.target or ""
        return target if target in allowed else None
    return None


def _field_errors(form, error: ValidationError) -> None:
    detail = error.detail if isinstance(error.detail, dict) else {"": error.detail}
    for name, problems in detail.items():
        field = name.split(".")[0]
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(field if field in form.fields else None, str(problem))


# --- Overview --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request", "HX-Target")
def project_list(request):
    """The overview: the user's projects and detectors, band counts, a live anomaly feed, and
    a form for a new project."""
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(owner=request.user, **form.cleaned_data)
        messages.success(request, f"Project “{project.name}” created.")
        return redirect("project-detail", project_id=project.pk)
    section = _section(request, {"project-table", "anomaly-feed"})
    if request.htmx and request.method == "GET" and section is None:
        section = "project-table"
    context = {"form": form}
    if section in (None, "project-table"):
        context["projects"] = selectors.overview(request.user)
    if section in (None, "anomaly-feed"):
        context["feed"] = selectors.anomaly_feed(request.user)
    template = f"{OVERVIEW}#{section}" if section else OVERVIEW
    return render(request, template, context)


# --- Projects --------------------------------------------------------------------------------


def _project_context(membership, form: DetectorForm | None = None) -> dict:
    project = membership.project
    detectors = list(
        Detector.objects.filter(project=project).select_related("active_version", "dataset")
    )
    summaries = selectors.detector_summaries(detectors)
    datasets = selectors.dataset_summaries(project.pk)
    return {
        "project": project,
        "membership": membership,
        "can_write": membership.can_write,
        "detectors": summaries,
        "training": any(s.state.training for s in summaries),
        "datasets": datasets,
        "profiling": any(d.profile_status in selectors.BUSY for d in datasets),
        "members": project.memberships.select_related("user").order_by("user__username"),
        "form": form if form is not None else DetectorForm(project=project),
    }


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def project_detail(request, project_id: int):
    membership = check_access(request.user, project_id)
    context = _project_context(membership)
    section = _section(request, {"detector-table", "dataset-table"})
    return render(request, f"{PROJECT}#{section}" if section else PROJECT, context)


@login_required
@require_http_methods(["GET", "POST"])
def detector_create(request, project_id: int):
    """POST creates a detector; GET renders the form for another dataset (its features)."""
    if request.method == "GET":
        membership = check_access(request.user, project_id)
        initial = {k: request.GET.get(k) for k in ("name", "algorithm", "sensitivity")}
        form = DetectorForm(
            project=membership.project,
            dataset_id=request.GET.get("dataset"),
            initial={k: v for k, v in initial.items() if v},
        )
        if request.htmx:
            context = {"project": membership.project, "can_write": membership.can_write}
            return render(request, f"{PROJECT}#detector-form", {**context, "form": form})
        return redirect(reverse("project-detail", args=[project_id]) + "#new-detector")
    membership = check_access(request.user, project_id, Need.WRITE)
    form = DetectorForm(request.POST, project=membership.project)
    if form.is_valid():
        data = form.cleaned_data
        try:
            detector = services.detector_create(
                project=membership.project,
                user=request.user,
                name=data["name"],
                dataset=data["dataset"],
                features=data["features"],
                algorithm=data["algorithm"],
                sensitivity=data["sensitivity"],
            )
        except ValidationError as error:
            _field_errors(form, error)
        else:
            messages.success(request, f"Detector “{detector.name}” created: train it to start.")
            return redirect("detector-detail", detector_id=detector.pk)
    return render(request, PROJECT, _project_context(membership, form))


# --- Datasets --------------------------------------------------------------------------------


@csrf_exempt  # checked below, once the size-limited upload handler is in place
def dataset_upload(request, project_id: int):
    if request.method == "POST":
        # Before anything reads the body: the CSRF check reads request.POST.
        request.upload_limit = limit_upload(request)
    return _dataset_upload(request, project_id)


@csrf_protect
@login_required
@require_http_methods(["GET", "POST"])
def _dataset_upload(request, project_id: int):
    """Upload a table; on problems the form comes back (200) with a message per column."""
    need = Need.WRITE if request.method == "POST" else Need.READ
    membership = check_access(request.user, project_id, need)
    project = membership.project
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    problems: dict[str, list[str]] = {}
    message = ""
    if request.method == "POST":
        handler = request.upload_limit
        if handler.too_large:
            message = handler.message()
        elif form.is_valid():
            data = form.cleaned_data
            try:
                dataset = services.dataset_create(
                    project=project,
                    user=request.user,
                    uploaded_file=data["file"],
                    name=data["name"],
                    label_column=data["label_column"],
                    timestamp_column=data["timestamp_column"],
                )
            except TableError as error:
                problems = error.fields
                message = (
                    "The file cannot be used: fix these problems and upload it again."
                    if problems
                    else "The file cannot be used: " + error.message
                )
            else:
                messages.success(request, f"Dataset “{dataset.name}” uploaded.")
                url = reverse("dataset-detail", args=[dataset.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "form": form,
        "message": message,
        "problems": _problem_rows(problems),
    }
    return render(request, f"{UPLOAD}#upload-form" if request.htmx else UPLOAD, context)


def _problem_rows(problems: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """File-wide problems first, then each column's."""
    order = sorted(problems, key=lambda name: (name != "file", name))
    return [(name, problems[name]) for name in order]


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def dataset_detail(request, dataset_id: int):
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        raise Http404("No such dataset.")
    membership = check_access(request.user, dataset.project_id)
    profile = dataset.profile if dataset.profile_status == JobStatus.READY else None
    features = selectors.feature_table(profile)
    context = {
        "dataset": dataset,
        "project": membership.project,
        "can_write": membership.can_write,
        "busy": dataset.profile_status in selectors.BUSY,
        "profile": profile,
        "features": features,
        "correlations": selectors.correlation_cells(profile),
        "roles": {dataset.label_column: "label", dataset.timestamp_column: "timestamp"},
    }
    section = _section(request, {"dataset-profile"})
    return render(request, f"{DATASET}#{section}" if section else DATASET, context)


# --- Detectors -------------------------------------------------------------------------------


def _detector_for(request, detector_id: int, need: Need = Need.READ):
    detector = (
        Detector.objects.select_related("active_version", "project", "dataset")
        .filter(pk=detector_id)
        .first()
    )
    if detector is None:
        raise Http404("No such detector.")
    membership = check_access(request.user, detector.project_id, need)
    return detector, membership


def _sensitivity_context(detector, can_write: bool, threshold: float | None = None) -> dict:
    current = engine.threshold_for(detector.false_alarm_rate)
    threshold = current if threshold is None else threshold
    rate = 10 ** (-threshold / 25)
    return {
        "detector": detector,
        "can_write": can_write,
        "current_threshold": current,
        "threshold": threshold,
        "slider": {"min": THRESHOLD_MIN, "max": THRESHOLD_MAX, "step": THRESHOLD_STEP},
        "presets": [
            (name.capitalize(), engine.threshold_for(rate))
            for name, rate in engine.SENSITIVITY_PRESETS.items()
        ],
        "preset": preset_name(detector.false_alarm_rate),
        "preview": sensitivity_preview(detector=detector, sensitivity=min(0.5, max(1e-4, rate))),
    }


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def detector_detail(request, detector_id: int):
    detector, membership = _detector_for(request, detector_id)
    can_write = membership.can_write
    section = _section(request, {"versions", "anomalies"})
    if section == "versions":
        context = {**selectors.versions_context(detector, can_write), "oob": True}
        return render(request, f"{DETECTOR}#versions-update", context)
    anomalies = selectors.recent_anomalies(detector)
    if section == "anomalies":
        context = {"detector": detector, "anomalies": anomalies, "can_write": can_write}
        return render(request, f"{DETECTOR}#anomalies", context)
    features = selectors.top_features(detector, anomalies)
    threshold = engine.threshold_for(detector.false_alarm_rate)
    chart = {
        "detector": detector.pk,
        "threshold": round(threshold, 3),
        "features": features,
        "points": selectors.chart_points(detector, features=features),
        "limit": selectors.CHART_POINTS,
        "pointsUrl": reverse("detector-points", args=[detector.pk]),
    }
    context = {
        **selectors.versions_context(detector, can_write),
        **_sensitivity_context(detector, can_write),
        "project": membership.project,
        "membership": membership,
        "anomalies": anomalies,
        "chart": chart,
        "raw_features": features,
    }
    return render(request, DETECTOR, context)


@login_required
@require_GET
def detector_points(request, detector_id: int):
    """Points for the chart as JSON: after a point id (the polling fallback), with the raw
    values of the features named in `raw` when asked."""
    detector, _ = _detector_for(request, detector_id)
    after = request.GET.get("after", "")
    raw = [name for name in request.GET.getlist("raw") if name in detector.features]
    points = selectors.chart_points(
        detector,
        after=int(after) if after.isdigit() else None,
        features=raw[: selectors.RAW_FEATURES] or None,
    )
    threshold = engine.threshold_for(detector.false_alarm_rate)
    return JsonResponse({"threshold": round(threshold, 3), "points": points})


def _back_to_detector(detector: Detector, anchor: str = ""):
    return redirect(reverse("detector-detail", args=[detector.pk]) + anchor)


@login_required
@require_POST
def detector_train(request, detector_id: int):
    detector, membership = _detector_for(request, detector_id, Need.WRITE)
    error = ""
    try:
        version = services.detector_train(detector=detector, user=request.user)
    except ValidationError as problem:
        error = _error_text(problem)
    if request.htmx:
        context = {**selectors.versions_context(detector, True), "oob": True, "error": error}
        return render(request, f"{DETECTOR}#versions-update", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Training of version {version.number} queued.")
    return _back_to_detector(detector, "#versions")


def _error_text(error: ValidationError) -> str:
    detail = error.detail
    if isinstance(detail, dict):
        return "; ".join(str(m) for problems in detail.values() for m in problems)
    return "; ".join(str(m) for m in detail) if isinstance(detail, list) else str(detail)


@login_required
@require_POST
def version_activate(request, detector_id: int, number: int):
    detector, membership = _detector_for(request, detector_id, Need.WRITE)
    version = detector.versions.filter(number=number).first()
    if version is None:
        raise Http404("No such version.")
    try:
        services.model_version_activate(version=version)
    except ValidationError:
        messages.error(request, f"Version {number} is {version.status}: only a ready one serves.")
    detector.refresh_from_db()
    if request.htmx:
        context = {**selectors.versions_context(detector, True), "oob": True}
        return render(request, f"{DETECTOR}#versions-update", context)
    messages.success(request, f"Version {number} now scores new points.")
    return _back_to_detector(detector, "#versions")


@login_required
@require_POST
def point_label(request, point_id: int):
    point = ScoredPoint.objects.select_related("detector").filter(pk=point_id).first()
    if point is None:
        raise Http404("No such point.")
    check_access(request.user, point.detector.project_id, Need.WRITE)
    label = request.POST.get("label", "")
    if label not in Label.values and label != "":
        return HttpResponse(f"Unknown label {label!r}.", status=400)
    point = services.point_label(point=point, label=label, user=request.user)
    if request.htmx:
        context = {
            "point": selectors.decorate(point),
            "can_write": True,
            "open": request.POST.get("open") == "1",
        }
        return render(request, f"{DETECTOR}#anomaly-row", context)
    return _back_to_detector(point.detector, f"#point-{point.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def detector_sensitivity(request, detector_id: int):
    """GET previews a threshold on the stored history; POST saves it as the sensitivity."""
    need = Need.WRITE if request.method == "POST" else Need.READ
    detector, membership = _detector_for(request, detector_id, need)
    form = SensitivityForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        if request.method == "POST" and not request.htmx:
            messages.error(request, "Choose a threshold between 8 and 100.")
            return _back_to_detector(detector, "#sensitivity")
        context = _sensitivity_context(detector, membership.can_write)
        context["form_error"] = "Choose a threshold between 8 and 100."
        return render(request, f"{DETECTOR}#sensitivity", context)
    if request.method == "GET":
        context = _sensitivity_context(
            detector, membership.can_write, form.cleaned_data["threshold"]
        )
        return render(request, f"{DETECTOR}#sensitivity-preview", context)
    detector = services.detector_update(detector=detector, sensitivity=form.sensitivity)
    if not request.htmx:
        messages.success(request, "Sensitivity saved: it applies to new points.")
        return _back_to_detector(detector, "#sensitivity")
    context = {**_sensitivity_context(detector, True), "saved": True}
    return render(request, f"{DETECTOR}#sensitivity", context)


# --- Account ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    """The user's token for scripts: create (or replace) it, or revoke it."""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if services.api_token_revoke(user=request.user):
                messages.success(
                    request, "Your API token was revoked; scripts using it now get 401."
                )
        else:
            services.api_token_create(user=request.user)
            messages.success(request, "A new API token was created. Copy it now.")
        return redirect("api-token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "detection/api_token.html", {"token": token})

"""Scoring jobs: a batch file scored in the background, with a CSV of results to download."""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import services
from detection.access import Need, object_for
from detection.models import Detector, JobStatus, ScoringJob
from detection.uploads import limit_upload, raise_if_too_large


class JobInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="CSV, JSON or Parquet with a column for each of the detector's features "
        "(and optionally a timestamp column).",
        error_messages={"required": "Attach the points as the multipart field `file`."},
    )
    persist = serializers.BooleanField(default=False, help_text="Also store the scored points.")


class JobOutputSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model_version.number", allow_null=True)
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = ScoringJob
        fields = [
            "id",
            "detector",
            "status",
            "progress",
            "original_filename",
            "persist",
            "rows_total",
            "rows_done",
            "anomalies",
            "model_version",
            "error",
            "result_url",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_result_url(self, job: ScoringJob) -> str | None:
        if job.status != JobStatus.READY:
            return None
        request = self.context.get("request")
        path = f"/api/v1/jobs/{job.pk}/result/"
        return request.build_absolute_uri(path) if request else path


class JobNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


class JobListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            limit_upload(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=JobOutputSerializer(many=True))
    def get(self, request, detector_id: int):
        detector = object_for(request.user, Detector.objects.all(), detector_id)
        jobs = detector.jobs.select_related("model_version")[:100]
        return Response(JobOutputSerializer(jobs, many=True, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": JobInputSerializer},
        responses={
            202: JobOutputSerializer,
            409: OpenApiResponse(description="The detector has no ready model."),
            413: OpenApiResponse(description="The file is larger than DATASET_MAX_UPLOAD_MB."),
        },
    )
    def post(self, request, detector_id: int):
        detector = object_for(
            request.user,
            Detector.objects.select_related("active_version"),
            detector_id,
            Need.WRITE,
        )
        given = JobInputSerializer(data=request.data)
        raise_if_too_large(request)
        given.is_valid(raise_exception=True)
        job = services.scoring_job_create(
            detector=detector,
            user=request.user,
            uploaded_file=given.validated_data["file"],
            persist=given.validated_data["persist"],
        )
        return Response(
            JobOutputSerializer(job, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class JobDetailView(APIView):
    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        job = object_for(request.user, ScoringJob.objects.select_related("detector"), job_id)
        return Response(JobOutputSerializer(job, context={"request": request}).data)


class JobResultView(APIView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(description="The scored rows as CSV."),
            409: OpenApiResponse(description="The job is not finished (or failed)."),
        }
    )
    def get(self, request, job_id: int):
        job = object_for(request.user, ScoringJob.objects.select_related("detector"), job_id)
        if job.status != JobStatus.READY:
            detail = f"The job is {job.status}" + (
                f": {job.error}" if job.error else "; try later."
            )
            raise JobNotReady(detail)
        stem = (job.original_filename or "points").rsplit(".", 1)[0]
        return FileResponse(
            job.result_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-scored.csv",
            content_type="text/csv",
        )

"""Dataset endpoints: upload (multipart, streamed to disk, size-limited), list, read, delete and
profile.

Thin: access from detection.access, parsing and storage in detection.services. A file that cannot
be used is a 400 whose `fields` name each column at fault ({"temp": ["row 17: 'abc' is not a
number"]}); problems with the file as a whole are under `file`.

The profile: 200 with the profile when ready; 202 with the status while queued or running; 409
with the stored error when it failed (POST to the same URL queues it again, 202).
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import services
from detection.access import Need, check_access
from detection.api.errors import error_body
from detection.models import Dataset, JobStatus
from detection.tabular import TableError
from detection.uploads import limit_upload, raise_if_too_large

ERROR_RESPONSES = {
    400: OpenApiResponse(description="The file cannot be used: `fields` names each problem."),
    403: OpenApiResponse(description="Your role in the project cannot make changes."),
    404: OpenApiResponse(description="No such dataset or project (or not yours)."),
}


class DatasetInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # detection.tabular says "the file is empty", like other problems
        help_text="CSV (UTF-8, with a header row), JSON (a list of records, an object of "
        "equal-length columns, or JSON Lines) or Parquet.",
        error_messages={"required": "Attach the table as the multipart field `file`."},
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    label_column = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A column of 0/1 or true/false (1 = anomaly). By default a column named "
        "`label` (any case) holding 0/1 is taken.",
    )
    timestamp_column = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A column of dates/times (ISO 8601 and the like, or Unix time). By default a "
        "column named timestamp, time, date or datetime is taken when its values parse.",
    )


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["number", "text", "boolean", "datetime"])
    missing = serializers.IntegerField()


class DatasetOutputSerializer(serializers.ModelSerializer):
    columns = ColumnSerializer(many=True)
    feature_columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    label_column = serializers.SerializerMethodField()
    timestamp_column = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "original_filename",
            "source_format",
            "size_bytes",
            "row_count",
            "columns",
            "feature_columns",
            "label_column",
            "timestamp_column",
            "profile_status",
            "created_at",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_label_column(self, dataset: Dataset) -> str | None:
        return dataset.label_column or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_timestamp_column(self, dataset: Dataset) -> str | None:
        return dataset.timestamp_column or None


class ProfileOutputSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    profile = serializers.JSONField(
        allow_null=True,
        help_text="row_count; features: {name: {count, missing, mean, std, min, max, quantiles "
        "{p1 ... p99}, histogram {edges, counts}}}; correlations {columns, matrix} (Pearson); "
        "other_columns; label {column, counts, anomaly_share}; timestamp {column, min, max, "
        "sorted}. Numbers that do not exist (the std of one value) are null.",
    )


def _dataset_for(user, dataset_id: int, need: Need = Need.READ) -> Dataset:
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        raise Http404("No such dataset.")
    check_access(user, dataset.project_id, need)
    return dataset


def _table_error_response(error: TableError) -> Response:
    message = "The file cannot be used: " + error.message
    return Response(
        error_body("invalid_file", message, error.fields), status=status.HTTP_400_BAD_REQUEST
    )


class DatasetListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (session auth's CSRF check reads request.POST).
        if request.method == "POST":
            limit_upload(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=DatasetOutputSerializer(many=True))
    def get(self, request, project_id: int):
        check_access(request.user, project_id)
        datasets = Dataset.objects.filter(project_id=project_id)
        return Response(DatasetOutputSerializer(datasets, many=True).data)

    @extend_schema(
        request={"multipart/form-data": DatasetInputSerializer},
        responses={
            201: DatasetOutputSerializer,
            413: OpenApiResponse(description="The file is larger than DATASET_MAX_UPLOAD_MB."),
            **ERROR_RESPONSES,
        },
        description="Upload a table. It is checked and stored as Parquet at once; its profile "
        "is computed in the background (see the profile endpoint).",
    )
    def post(self, request, project_id: int):
        membership = check_access(request.user, project_id, Need.WRITE)
        data = request.data
        raise_if_too_large(request)
        given = DatasetInputSerializer(data=data)
        given.is_valid(raise_exception=True)
        try:
            dataset = services.dataset_create(
                project=membership.project,
                user=request.user,
                uploaded_file=given.validated_data["file"],
                name=given.validated_data.get("name"),
                label_column=given.validated_data.get("label_column"),
                timestamp_column=given.validated_data.get("timestamp_column"),
            )
        except TableError as error:
            return _table_error_response(error)
        return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    @extend_schema(responses={200: DatasetOutputSerializer, 404: ERROR_RESPONSES[404]})
    def get(self, request, dataset_id: int):
        dataset = _dataset_for(request.user, dataset_id)
        return Response(DatasetOutputSerializer(dataset).data)

    @extend_schema(responses={204: None, 403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404]})
    def delete(self, request, dataset_id: int):
        dataset = _dataset_for(request.user, dataset_id, Need.WRITE)
        services.dataset_delete(dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetProfileView(APIView):
    @extend_schema(
        responses={
            200: ProfileOutputSerializer,
            202: OpenApiResponse(ProfileOutputSerializer, description="Queued or running."),
            404: ERROR_RESPONSES[404],
            409: OpenApiResponse(description="The profile failed; the message says why."),
        }
    )
    def get(self, request, dataset_id: int):
        dataset = _dataset_for(request.user, dataset_id)
        if dataset.profile_status == JobStatus.FAILED:
            message = f"The profile could not be computed: {dataset.profile_error}"
            return Response(error_body("profile_failed", message), status=status.HTTP_409_CONFLICT)
        ready = dataset.profile_status == JobStatus.READY
        body = {
            "dataset": dataset.pk,
            "status": dataset.profile_status,
            "profile": dataset.profile if ready else None,
        }
        return Response(body, status=status.HTTP_200_OK if ready else status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={202: ProfileOutputSerializer, **ERROR_RESPONSES},
        description="Queue the profile again (after a failure, or to recompute it).",
    )
    def post(self, request, dataset_id: int):
        dataset = _dataset_for(request.user, dataset_id, Need.WRITE)
        dataset = services.dataset_profile_request(dataset=dataset)
        body = {"dataset": dataset.pk, "status": dataset.profile_status, "profile": None}
        return Response(body, status=status.HTTP_202_ACCEPTED)

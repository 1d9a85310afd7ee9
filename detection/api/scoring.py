"""Scoring: one point or a batch, stored or not; the stream endpoint; points and labels."""

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import engine, services
from detection.access import Need, checked_detector, detector_for, object_for
from detection.api.fastjson import FastJSONMixin
from detection.models import Detector, Label, ScoredPoint
from detection.services.points import parse_event_time, points_matrix


class DetectorMixin:
    """A view under detectors/<detector_id>/. Its detector comes with the user from the token's
    statement when the request has a token (detection/api/authentication.py: a round trip
    less per scored point), else from a lookup for the signed-in user."""

    detector_kwarg = "detector_id"

    def detector(self, need: Need) -> Detector:
        if "detector_row" in self.__dict__:
            return checked_detector(self.detector_row, need)
        return detector_for(self.request.user, self.kwargs[self.detector_kwarg], need)


def _body(request, allowed: set[str]) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"body": ["expected a JSON object"]})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            {unknown[0]: [f"unknown field; this endpoint takes {', '.join(sorted(allowed))}"]}
        )
    return data


def _persist_flag(data: dict) -> bool:
    value = data.get("persist", False)
    if not isinstance(value, bool):
        raise ValidationError({"persist": ["must be true or false"]})
    return value


def _check_size(points: list) -> None:
    if isinstance(points, list) and len(points) > settings.SCORE_MAX_POINTS:
        raise ValidationError(
            {
                "points": [
                    f"{len(points)} points in one request; the limit is "
                    f"{settings.SCORE_MAX_POINTS} (SCORE_MAX_POINTS): use a scoring job"
                ]
            }
        )


class ScoreRequestSerializer(serializers.Serializer):
    """Documentation of the body; the view checks it itself to name each bad point."""

    point = serializers.JSONField(required=False, help_text="One point: an array or an object")
    points = serializers.ListField(child=serializers.JSONField(), required=False)
    persist = serializers.BooleanField(required=False, default=False)


class ScoreResultSerializer(serializers.Serializer):
    score = serializers.FloatField()
    band = serializers.ChoiceField(choices=list(engine.BANDS))
    is_anomaly = serializers.BooleanField()
    explanation = serializers.DictField()
    model_version = serializers.IntegerField()
    id = serializers.IntegerField(required=False)


class ScoreBatchSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(required=False)
    threshold = serializers.FloatField(required=False)
    count = serializers.IntegerField()
    anomalies = serializers.IntegerField()
    results = ScoreResultSerializer(many=True)


class StreamRequestSerializer(serializers.Serializer):
    points = serializers.ListField(child=serializers.DictField())


class ScoreView(DetectorMixin, FastJSONMixin, APIView):
    """Score one point (`point`) or a batch (`points`); `persist: true` stores them."""

    @extend_schema(
        request=ScoreRequestSerializer,
        responses={
            200: PolymorphicProxySerializer(
                "ScoreResponse",
                [ScoreResultSerializer, ScoreBatchSerializer],
                resource_type_field_name=None,
            )
        },
    )
    def post(self, request, detector_id: int):
        data = _body(request, {"point", "points", "persist"})
        persist = _persist_flag(data)
        detector = self.detector(Need.WRITE if persist else Need.READ)
        if ("point" in data) == ("points" in data):
            raise ValidationError({"points": ["send either `point` (one) or `points` (a list)"]})
        single = "point" in data
        points = [data["point"]] if single else data["points"]
        _check_size(points)
        matrix = points_matrix(
            points,
            detector.features,
            allow_missing=detector.missing_policy == Detector.MissingPolicy.IMPUTE,
        )
        if single:
            if persist:
                return Response(
                    services.point_ingest(
                        detector=detector, row=matrix[0], time=None, source=ScoredPoint.Source.API
                    )
                )
            return Response(services.point_score(detector=detector, row=matrix[0]))
        if persist:
            scored, _ = services.points_ingest(
                detector=detector,
                matrix=matrix,
                times=None,
                source=ScoredPoint.Source.API,
                with_answers=True,
            )
            results = scored.answers
        else:
            scored = services.points_score(detector=detector, matrix=matrix)
            results = services.scored_results(scored)
        return Response(
            {
                "model_version": scored.version.number,
                "threshold": round(scored.threshold, 3),
                "count": len(results),
                "anomalies": int(scored.is_anomaly.sum()),
                "results": results,
            }
        )


class StreamView(DetectorMixin, FastJSONMixin, APIView):
    """Append points with their event times: `{"points": [{"time", "values"}, ...]}`."""

    @extend_schema(request=StreamRequestSerializer, responses={201: ScoreBatchSerializer})
    def post(self, request, detector_id: int):
        data = _body(request, {"points"})
        detector = self.detector(Need.WRITE)
        items = data.get("points")
        if not isinstance(items, list) or not items:
            raise ValidationError({"points": ["expected a non-empty list of {time, values}"]})
        _check_size(items)
        times, values = [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "values" not in item or set(item) - {"time", "values"}:
                raise ValidationError(
                    {"points": [f"point {i}: expected an object with `values` and optional `time`"]}
                )
            times.append(parse_event_time(item.get("time"), i))
            values.append(item["values"])
        matrix = points_matrix(
            values,
            detector.features,
            allow_missing=detector.missing_policy == Detector.MissingPolicy.IMPUTE,
        )
        scored, _ = services.points_ingest(
            detector=detector,
            matrix=matrix,
            times=times,
            source=ScoredPoint.Source.STREAM,
            with_answers=True,
        )
        results = scored.answers
        return Response(
            {"count": len(results), "anomalies": int(scored.is_anomaly.sum()), "results": results},
            status=status.HTTP_201_CREATED,
        )


class PointSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model_version.number", allow_null=True)

    class Meta:
        model = ScoredPoint
        fields = [
            "id",
            "detector",
            "model_version",
            "event_time",
            "received_at",
            "values",
            "score",
            "raw_score",
            "is_anomaly",
            "band",
            "explanation",
            "label",
            "labelled_at",
            "source",
        ]


class PointQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    band = serializers.MultipleChoiceField(choices=list(engine.BANDS), required=False)
    anomalous = serializers.BooleanField(required=False, allow_null=True, default=None)
    label = serializers.ChoiceField(choices=[*Label.values, "none", "any"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    cursor = serializers.CharField(required=False)

    def validate_cursor(self, value: str) -> tuple[datetime, int]:
        try:
            text = base64.urlsafe_b64decode(value.encode()).decode()
            stamp, point_id = text.rsplit("|", 1)
            return datetime.fromisoformat(stamp), int(point_id)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise serializers.ValidationError("not a cursor this API gave out") from None

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"since": "`since` is after `until`"})
        return attrs


def _encode_cursor(point: ScoredPoint) -> str:
    return base64.urlsafe_b64encode(f"{point.event_time.isoformat()}|{point.pk}".encode()).decode()


class PointListView(DetectorMixin, APIView):
    """Stored points, newest first, with filters; `next` is a cursor link to the older ones."""

    @extend_schema(
        parameters=[PointQuerySerializer],
        responses=inline_serializer(
            "PointPage",
            {"results": PointSerializer(many=True), "next": serializers.URLField(allow_null=True)},
        ),
    )
    def get(self, request, detector_id: int):
        detector = self.detector(Need.READ)
        query = PointQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        points = ScoredPoint.objects.filter(detector=detector).select_related("model_version")
        if "since" in q:
            points = points.filter(event_time__gte=q["since"])
        if "until" in q:
            points = points.filter(event_time__lt=q["until"])
        if q.get("band"):
            points = points.filter(band__in=q["band"])
        if q["anomalous"] is not None:
            points = points.filter(is_anomaly=q["anomalous"])
        if "label" in q:
            label = q["label"]
            points = (
                points.filter(label="")
                if label == "none"
                else points.exclude(label="")
                if label == "any"
                else points.filter(label=label)
            )
        if "cursor" in q:
            stamp, point_id = q["cursor"]
            points = points.filter(Q(event_time__lt=stamp) | Q(event_time=stamp, id__lt=point_id))
        page = list(points.order_by("-event_time", "-id")[: q["limit"] + 1])
        more = len(page) > q["limit"]
        page = page[: q["limit"]]
        next_url = None
        if more:
            params = request.query_params.copy()
            params["cursor"] = _encode_cursor(page[-1])
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": PointSerializer(page, many=True).data, "next": next_url})


class LabelSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=[*Label.values, ""], allow_blank=True)


class PointLabelView(APIView):
    """Label a stored point (anomaly, expected, not_anomaly, missed; "" clears it)."""

    @extend_schema(request=LabelSerializer, responses=PointSerializer)
    def post(self, request, point_id: int):
        point = object_for(
            request.user,
            ScoredPoint.objects.select_related("detector", "model_version"),
            point_id,
            Need.WRITE,
        )
        given = LabelSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        point = services.point_label(
            point=point, label=given.validated_data["label"], user=request.user
        )
        return Response(PointSerializer(point).data)

from django.contrib import admin

from detection.models import (
    Dataset,
    Detector,
    Membership,
    ModelVersion,
    Project,
    ScoredPoint,
    ScoringJob,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "member_count"]
    search_fields = ["name", "description"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj: Project) -> int:
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username", "user__email"]
    autocomplete_fields = ["project", "user"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "source_format", "row_count", "profile_status", "created_at"]
    list_filter = ["profile_status", "source_format"]
    search_fields = ["name", "original_filename", "project__name"]
    list_select_related = ["project"]
    # The file and its schema come from the upload (API or import_dataset); here they are shown.
    readonly_fields = [
        "project",
        "original_filename",
        "source_format",
        "file",
        "size_bytes",
        "row_count",
        "columns",
        "label_column",
        "timestamp_column",
        "profile",
        "profile_status",
        "profile_error",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # a dataset is made from a file: upload it through the API or import_dataset


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    fields = ["number", "status", "progress", "algorithm", "created_at", "finished_at", "error"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # versions come from training runs


@admin.register(Detector)
class DetectorAdmin(admin.ModelAdmin):
    """Thresholds live here: the sensitivity (false_alarm_rate) and missing-value policy can be
    changed without retraining; algorithm and features take effect at the next training run."""

    list_display = ["name", "project", "algorithm", "false_alarm_rate", "active_version"]
    list_filter = ["algorithm", "missing_policy"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project", "active_version"]
    autocomplete_fields = ["project"]
    raw_id_fields = ["dataset", "active_version"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [ModelVersionInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["detector", "number", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "algorithm"]
    search_fields = ["detector__name"]
    list_select_related = ["detector"]
    readonly_fields = [
        "detector",
        "number",
        "status",
        "progress",
        "algorithm",
        "params",
        "features",
        "artifact",
        "training_metrics",
        "evaluation_metrics",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ScoredPoint)
class ScoredPointAdmin(admin.ModelAdmin):
    list_display = ["detector", "event_time", "score", "band", "is_anomaly", "label", "source"]
    list_filter = ["band", "is_anomaly", "label", "source"]
    list_select_related = ["detector"]
    date_hierarchy = "event_time"
    raw_id_fields = ["detector", "model_version", "labelled_by"]
    readonly_fields = [
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
        "source",
    ]
    show_full_result_count = False  # counting millions of points on every page is slow


@admin.register(ScoringJob)
class ScoringJobAdmin(admin.ModelAdmin):
    list_display = ["id", "detector", "status", "progress", "rows_total", "anomalies", "created_at"]
    list_filter = ["status"]
    list_select_related = ["detector"]
    readonly_fields = [f.name for f in ScoringJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

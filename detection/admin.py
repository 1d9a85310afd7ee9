from django.contrib import admin

from detection.models import Dataset, Membership, Project


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

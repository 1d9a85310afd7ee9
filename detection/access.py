"""The one place that decides who may see and change a project's objects.

Views, API views and WebSocket consumers all ask here. A user who is not a member gets a 404 (we do
not confirm that someone else's project exists); a member whose role is too low gets a 403.
"""

from enum import Enum

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from detection.models import WRITE_ROLES, Detector, Membership, ModelVersion, Project, Role
from detection.rawsql import RowLookup, loaded_instance, selected_fields


class Need(Enum):
    READ = "read"
    WRITE = "write"
    MANAGE = "manage"


def projects_for(user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user)


def membership_for(user, project_id) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("project")
        .filter(user=user, project_id=project_id)
        .first()
    )


def check_access(user, project_id, need: Need = Need.READ) -> Membership:
    """Return the user's membership of the project, or raise Http404 / PermissionDenied."""
    membership = membership_for(user, project_id)
    _check_role(None if membership is None else membership.role, need)
    return membership


def _check_role(role: str | None, need: Need) -> None:
    """Raise Http404 without a role (not a member) and PermissionDenied for one too low."""
    if role is None:
        raise Http404("No such project.")
    if need is Need.WRITE and role not in WRITE_ROLES:
        raise PermissionDenied(f"Your role in this project is {role}: it cannot make changes.")
    if need is Need.MANAGE and role != Role.OWNER:
        raise PermissionDenied(f"Your role in this project is {role}: only owners can do this.")


def project_for(user, project_id, need: Need = Need.READ) -> Project:
    return check_access(user, project_id, need).project


def can_read(user, project_id) -> bool:
    return membership_for(user, project_id) is not None


def object_for(user, queryset: QuerySet, pk, need: Need = Need.READ):
    """An object of a project the user may access, by primary key, in one query.

    `queryset`'s model must have a `project` or a `detector` (which has one). The user's role in
    that project comes with the object, as an annotation. A missing object and a stranger's
    object both give 404.
    """
    role = (
        Membership.objects.filter(project=OuterRef(_project_path(queryset.model)), user=user.pk)
        .order_by()
        .values("role")[:1]
    )
    obj = queryset.filter(pk=pk).annotate(access_role=Subquery(role)).order_by().first()
    if obj is None:
        raise Http404("Not found.")
    _check_role(obj.access_role, need)
    return obj


def _project_path(model) -> str:
    names = {field.name for field in model._meta.get_fields()}
    if "project" in names:
        return "project"
    if "detector" in names:
        return "detector__project"
    raise TypeError(f"{model.__name__} does not belong to a project")


# The scoring endpoints' lookup, run on every scored point: the detector's and its active
# version's few fields that scoring reads, and the user's role, in one statement. Written as SQL
# because the ORM's query compiler costs more than everything else such a request does; built
# from the models' metadata, so it follows their columns. The detector's other fields are
# deferred (loaded on first use): fewer values to convert (JSON, dates), and on SQLite each
# column fetched lets go of the GIL once, which costs a wait under concurrent requests.
DETECTOR_FIELDS = (
    "project",
    "name",
    "features",
    "false_alarm_rate",
    "missing_policy",
    "active_version",
)
_VERSION_FIELDS = ("number", "status", "artifact")


def detector_columns_sql(q) -> str:
    """The detector's DETECTOR_FIELDS (`d`), the user's role (`m`) and the version's fields
    (`v`), in the order DETECTOR_EXTRA names the last ones; `q` quotes a name."""
    fields = selected_fields(Detector, DETECTOR_FIELDS)
    columns = ", ".join(f"d.{q(f.column)}" for f in fields)
    version = ", ".join(f"v.{q(name)}" for name in _VERSION_FIELDS)
    return f"{columns}, m.{q('role')}, {version}"


def detector_joins_sql(q, user: str) -> str:
    """Joins `d` to the membership of `user` (an SQL expression) and to the active version."""
    return (
        f"LEFT JOIN {q(Membership._meta.db_table)} m "
        f"ON m.{q('project_id')} = d.{q('project_id')} AND m.{q('user_id')} = {user} "
        f"LEFT JOIN {q(ModelVersion._meta.db_table)} v ON v.{q('id')} = d.{q('active_version_id')}"
    )


DETECTOR_EXTRA = ("access_role", *(f"version_{name}" for name in _VERSION_FIELDS))


def _detector_sql() -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {detector_columns_sql(q)} FROM {q(Detector._meta.db_table)} d "
        f"{detector_joins_sql(q, '%s')} WHERE d.{q('id')} = %s"
    )


_detector_lookup = RowLookup([(Detector, DETECTOR_FIELDS)], _detector_sql, extra=DETECTOR_EXTRA)


def detector_for(user, detector_id: int, need: Need = Need.READ) -> Detector:
    """The detector, as `object_for` gives it, with `active_version` loaded (number, status and
    artifact). Fields outside DETECTOR_FIELDS, and the version's other fields, load on first
    use, as deferred fields do."""
    row = _detector_lookup.one([user.pk, detector_id])
    return checked_detector(None if row is None else row[0], need)


def checked_detector(detector: Detector | None, need: Need) -> Detector:
    """A detector from a statement of `detector_columns_sql` (None where there was no such
    detector), once the user's role allows `need`, with its active version attached."""
    if detector is None:
        raise Http404("Not found.")
    _check_role(detector.access_role, need)
    if detector.active_version_id is None:
        detector.active_version = None
    else:
        detector.active_version = loaded_instance(
            ModelVersion,
            detector._state.db,
            ["id", "detector_id", *_VERSION_FIELDS],
            [
                detector.active_version_id,
                detector.pk,
                *(getattr(detector, f"version_{name}") for name in _VERSION_FIELDS),
            ],
        )
    return detector

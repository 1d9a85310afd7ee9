"""The one place that decides who may see and change a project's objects.

Views, API views and WebSocket consumers all ask here. A user who is not a member gets a 404 (we do
not confirm that someone else's project exists); a member whose role is too low gets a 403.
"""

from enum import Enum

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from detection.models import Membership, Project


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
    if membership is None:
        raise Http404("No such project.")
    if need is Need.WRITE and not membership.can_write:
        raise PermissionDenied(
            f"Your role in this project is {membership.role}: it cannot make changes."
        )
    if need is Need.MANAGE and not membership.can_manage:
        raise PermissionDenied(
            f"Your role in this project is {membership.role}: only owners can do this."
        )
    return membership


def project_for(user, project_id, need: Need = Need.READ) -> Project:
    return check_access(user, project_id, need).project


def can_read(user, project_id) -> bool:
    return membership_for(user, project_id) is not None


def object_for(user, queryset: QuerySet, pk, need: Need = Need.READ):
    """An object of a project the user may access, by primary key.

    `queryset` must reach a project through `project_id` on the object or `project_path`.
    A missing object and a stranger's object both give 404.
    """
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404("Not found.")
    check_access(user, _project_id_of(obj), need)
    return obj


def _project_id_of(obj) -> int:
    if hasattr(obj, "project_id"):
        return obj.project_id
    if hasattr(obj, "detector"):
        return obj.detector.project_id
    raise TypeError(f"{type(obj).__name__} does not belong to a project")

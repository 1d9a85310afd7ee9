"""Write operations of the detection app. Views, API views, tasks and commands call these."""

from django.db import transaction
from rest_framework.authtoken.models import Token

from detection.models import Membership, Project, Role


@transaction.atomic
def project_create(*, owner, name: str, description: str = "") -> Project:
    project = Project.objects.create(name=name.strip(), description=description.strip())
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    return project


@transaction.atomic
def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    if name is not None:
        project.name = name.strip()
    if description is not None:
        project.description = description.strip()
    project.save(update_fields=["name", "description"])
    return project


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for the user; any previous token stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)

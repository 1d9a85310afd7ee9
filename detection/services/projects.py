"""Write operations of the detection app. Views, API views, tasks and commands call these."""

from django.db import transaction

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

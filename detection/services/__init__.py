"""Write operations of the detection app, one module per entity; import them from here."""

from detection.services.projects import project_create, project_update

__all__ = ["project_create", "project_update"]

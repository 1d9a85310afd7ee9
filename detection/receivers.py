"""Stored files go when their rows go: datasets, model files and job files are deleted from
storage once the deletion commits (a rolled-back delete keeps them), whatever deleted the row:
a service, a cascade from a project or detector, or the admin."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from detection.models import Dataset, ModelVersion, ScoringJob

FILE_FIELDS = {
    Dataset: ["file"],
    ModelVersion: ["artifact"],
    ScoringJob: ["input_file", "result_file"],
}


def _delete_files_on_commit(sender, instance, **kwargs) -> None:
    for field_name in FILE_FIELDS[sender]:
        stored = getattr(instance, field_name)
        if stored and stored.name:
            storage, name = stored.storage, stored.name
            transaction.on_commit(lambda s=storage, n=name: s.delete(n), robust=True)


for model in FILE_FIELDS:
    receiver(post_delete, sender=model, dispatch_uid=f"delete-files-{model.__name__}")(
        _delete_files_on_commit
    )

"""What happens around deletions, whatever deleted the row (a service, a cascade from a project
or detector, or the admin):

- Stored files go when their rows go: datasets, model files and job files are deleted from
  storage once the deletion commits (a rolled-back delete keeps them).
- A detector or model version is locked before it is deleted, so a batch of points being
  stored for it (which holds a share lock, see services.scoring._hold) finishes first and its
  points are deleted or unlinked with the rest: points have no database constraint to do it.
"""

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from detection.models import Dataset, Detector, ModelVersion, ScoringJob

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


@receiver(pre_delete, sender=Detector, dispatch_uid="lock-detector-before-delete")
@receiver(pre_delete, sender=ModelVersion, dispatch_uid="lock-version-before-delete")
def _lock_before_delete(sender, instance, **kwargs) -> None:
    # Runs inside the deletion's transaction, before the cascade deletes or unlinks the points.
    list(sender._base_manager.select_for_update().filter(pk=instance.pk).values_list("pk"))

"""Stored points stay tied to their detector and model version without database constraints.

Points are written in bulk with no foreign-key constraint (one check per row cost PostgreSQL
70 ms for 10,000 points): the batch locks the detector and version rows once, and a deletion
locks them first. These stories check that deletions still reach every point.
"""

import os
import threading

import numpy as np
import pytest
from django.db import connection

from detection import services
from detection.models import Detector, ModelVersion, ScoredPoint
from detection.services.scoring import ScoringConflict
from detection.signals import points_stored

SCALE = os.environ.get("TEST_TIER") == "scale"


def normal_points(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.normal(20, 1, n), 1000 + rng.normal(0, 0.5, n), rng.normal(5, 0.2, n)]
    )


def ingest(detector: Detector, n: int = 50):
    return services.points_ingest(
        detector=detector, matrix=normal_points(n), times=None, source=ScoredPoint.Source.API
    )


@pytest.mark.django_db
def test_it_deletes_the_points_with_their_detector(trained_detector):
    ingest(trained_detector)
    other = ScoredPoint.objects.count()
    assert other == 50
    trained_detector.delete()
    assert ScoredPoint.objects.count() == 0


@pytest.mark.django_db
def test_it_unlinks_the_points_of_a_deleted_model_version(trained_detector):
    _, ids = ingest(trained_detector)
    version = trained_detector.active_version
    version.delete()
    unlinked = ScoredPoint.objects.filter(pk__in=ids)
    assert unlinked.count() == 50
    assert set(unlinked.values_list("model_version_id", flat=True)) == {None}


@pytest.mark.django_db
def test_it_stores_nothing_when_the_detector_is_deleted_while_scoring(trained_detector):
    # The request loaded the detector and its model; the row went before the points were written.
    stale = Detector.objects.select_related("active_version").get(pk=trained_detector.pk)
    Detector.objects.filter(pk=trained_detector.pk).delete()
    with pytest.raises(ScoringConflict, match="was deleted while the points were being scored"):
        ingest(stale)
    assert ScoredPoint.objects.count() == 0


@pytest.mark.skipif(not SCALE, reason="row locks are PostgreSQL's; SQLite writers take turns")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("deleted", ["detector", "model version"])
@pytest.mark.parametrize("n", [1, 200], ids=["one point", "a batch"])  # one INSERT, or a COPY
def test_it_waits_for_a_batch_being_stored_and_then_deletes_its_points(
    trained_detector, deleted, n
):
    detector_id = trained_detector.pk
    version_id = trained_detector.active_version_id
    inside, release = threading.Event(), threading.Event()
    errors = []

    def hold_the_batch_open(sender, **kwargs):  # in the batch's transaction, after the insert
        inside.set()
        release.wait(10)

    def in_thread(work):
        def run():
            try:
                work()
            except Exception as error:  # reported by the test below
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def delete():
        if deleted == "detector":
            Detector.objects.get(pk=detector_id).delete()
        else:
            ModelVersion.objects.get(pk=version_id).delete()

    points_stored.connect(hold_the_batch_open, dispatch_uid="hold-the-batch-open")
    try:
        batch = in_thread(lambda: ingest(Detector.objects.get(pk=detector_id), n=n))
        assert inside.wait(10), errors
        deletion = in_thread(delete)
        deletion.join(0.5)
        assert deletion.is_alive(), "the deletion did not wait for the batch being stored"
        release.set()
        batch.join(10)
        deletion.join(10)
    finally:
        release.set()
        points_stored.disconnect(dispatch_uid="hold-the-batch-open")
    assert errors == []
    stored = ScoredPoint.objects.filter(detector_id=detector_id)
    if deleted == "detector":
        assert not Detector.objects.filter(pk=detector_id).exists()
        assert stored.count() == 0
    else:
        assert stored.count() == n
        assert set(stored.values_list("model_version_id", flat=True)) == {None}

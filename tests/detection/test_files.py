"""Stored files leave with their rows, whichever way the rows are deleted."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def files(media):
    return sorted(p.name for p in media.rglob("*") if p.is_file())


def test_it_deletes_model_and_dataset_files_with_the_project(
    trained_detector, alice_client, media, django_capture_on_commit_callbacks
):
    assert any(name.endswith(".skops") for name in files(media))
    assert any(name.endswith(".parquet") for name in files(media))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete(
            reverse("api-project-detail", args=[trained_detector.project_id])
        )
    assert response.status_code == 204
    assert files(media) == []


def test_it_deletes_model_files_with_the_detector(
    trained_detector, alice_client, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.delete(reverse("api-detector-detail", args=[trained_detector.pk]))
    assert not any(name.endswith(".skops") for name in files(media))
    assert any(name.endswith(".parquet") for name in files(media))  # the dataset stays

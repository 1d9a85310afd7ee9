"""The OpenAPI schema is valid and drf-spectacular has nothing to warn about."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/detectors/{detector_id}/score/" in text
    assert "/api/v1/projects/{project_id}/datasets/" in text

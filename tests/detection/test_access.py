"""Who may see and change a project: pages, API and the shared access helper."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_page_visitors_to_login(client, project):
    for url in [reverse("project-list"), reverse("project-detail", args=[project.pk])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_refuses_anonymous_api_requests(client, project):
    list_response = client.get(reverse("api-project-list"))
    detail_response = client.get(reverse("api-project-detail", args=[project.pk]))
    for response in (list_response, detail_response):
        assert response.status_code in (401, 403)
        assert response.json()["error"]["code"] == "not_authenticated"


def test_it_lists_only_the_users_projects(alice_client, charlie_client, project):
    page = alice_client.get(reverse("project-list"))
    assert page.status_code == 200
    assert "Alice&#x27;s plant" in page.text

    assert "Alice&#x27;s plant" not in charlie_client.get(reverse("project-list")).text
    assert charlie_client.get(reverse("api-project-list")).json() == []


def test_it_hides_alices_project_from_charlie(charlie_client, project):
    assert charlie_client.get(reverse("project-detail", args=[project.pk])).status_code == 404
    response = charlie_client.get(reverse("api-project-detail", args=[project.pk]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    patch = charlie_client.patch(
        reverse("api-project-detail", args=[project.pk]),
        {"name": "mine now"},
        content_type="application/json",
    )
    assert patch.status_code == 404


def test_it_lets_bob_read_but_not_write(bob_client, project):
    url = reverse("api-project-detail", args=[project.pk])
    response = bob_client.get(url)
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"

    response = bob_client.patch(url, {"name": "renamed"}, content_type="application/json")
    assert response.status_code == 403
    assert "viewer" in response.json()["error"]["message"]
    project.refresh_from_db()
    assert project.name == "Alice's plant"

    assert bob_client.get(reverse("project-detail", args=[project.pk])).status_code == 200


def test_it_lets_alice_rename_her_project(alice_client, project):
    url = reverse("api-project-detail", args=[project.pk])
    response = alice_client.patch(url, {"name": "Plant 2"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["name"] == "Plant 2"
    project.refresh_from_db()
    assert project.name == "Plant 2"
    assert project.description == "Sensors"  # a partial update keeps what it was not given


def test_it_lets_only_owners_delete(alice_client, bob_client, project):
    url = reverse("api-project-detail", args=[project.pk])
    assert bob_client.delete(url).status_code == 403
    assert alice_client.delete(url).status_code == 204
    assert alice_client.get(url).status_code == 404


def test_it_makes_the_creator_owner(charlie_client):
    response = charlie_client.post(
        reverse("api-project-list"), {"name": "Charlie's"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["role"] == "owner"


def test_it_names_the_bad_field(alice_client):
    response = alice_client.post(
        reverse("api-project-list"), {"name": "   "}, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith("name:")
    assert "name" in error["fields"]


def test_it_creates_a_project_from_the_page(alice_client):
    response = alice_client.post(reverse("project-list"), {"name": "From the page"})
    assert response.status_code == 302
    page = alice_client.get(response["Location"])
    assert "From the page" in page.text
    assert "Owner" in page.text


def test_it_renders_the_table_partial_for_htmx(alice_client, project):
    response = alice_client.get(reverse("project-list"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="project-table"' in response.text
    assert "<html" not in response.text


def test_it_serves_login_and_admin(client, django_user_model):
    assert client.get(reverse("login")).status_code == 200
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:detection_project_changelist")).status_code == 200
    assert client.get(reverse("admin:detection_membership_add")).status_code == 200
    for model in ["dataset", "detector", "modelversion", "scoredpoint", "scoringjob"]:
        assert client.get(reverse(f"admin:detection_{model}_changelist")).status_code == 200


def test_it_lets_alice_create_and_revoke_her_api_token(alice_client, alice, project, client):
    page = alice_client.get(reverse("api-token"))
    assert "You have no token" in page.text
    alice_client.post(reverse("api-token"), {"action": "create"})
    key = alice.auth_token.key
    assert key in alice_client.get(reverse("api-token")).text

    by_token = client.get(reverse("api-project-list"), headers={"Authorization": f"Token {key}"})
    assert by_token.status_code == 200 and by_token.json()[0]["id"] == project.pk

    alice_client.post(reverse("api-token"), {"action": "revoke"})
    refused = client.get(reverse("api-project-list"), headers={"Authorization": f"Token {key}"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"

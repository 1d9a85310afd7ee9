"""The pages in a real browser: they load, log in works, and every asset comes from this host."""

import pytest

from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

VENDORED = [
    "/static/vendor/htmx-2.0.11/htmx.min.js",
    "/static/vendor/htmx-ext-ws-2.0.4/ws.min.js",
    "/static/vendor/chart.js-4.6.1/chart.umd.min.js",
    "/static/vendor/chart.js-4.6.1/chart.umd.min.js.map",
]


def test_it_logs_in_and_shows_the_overview(watched_page, live_url):
    page, watch = watched_page
    page.goto(f"{live_url}/")
    assert page.url.startswith(f"{live_url}/login/")
    screenshot(page, "login")

    log_in(page, live_url, "alice")
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_role("link", name="Alice's plant").is_visible()
    # The vendored scripts ran: htmx and its WebSocket extension are live on the page.
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("htmx.version") == "2.0.11"
    screenshot(page, "overview-empty")

    page.get_by_role("link", name="Alice's plant").click()
    assert page.get_by_role("heading", name="Alice's plant").is_visible()


def test_it_serves_every_vendored_file(watched_page, live_url):
    page, watch = watched_page
    page.goto(f"{live_url}/login/")
    for path in VENDORED:
        response = page.request.get(f"{live_url}{path}")
        assert response.status == 200, path
        assert len(response.body()) > 1000, path


def test_it_refuses_charlie_alices_project(watched_page, live_url):
    page, watch = watched_page
    log_in(page, live_url, "charlie")
    assert page.get_by_text("You are not a member of any project yet").is_visible()
    response = page.request.get(f"{live_url}/projects/1/")
    assert response.status == 404


def test_it_rejects_a_wrong_password(watched_page, live_url):
    page, watch = watched_page
    page.goto(f"{live_url}/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").is_visible()


def test_it_serves_the_api_docs_and_browsable_api_from_this_host(watched_page, live_url):
    page, watch = watched_page
    log_in(page, live_url, "alice")
    page.goto(f"{live_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    assert page.get_by_text("/api/v1/projects/").first.is_visible()
    screenshot(page, "api-docs")
    page.goto(f"{live_url}/api/v1/projects/")
    assert page.get_by_text("Alice's plant").first.is_visible()

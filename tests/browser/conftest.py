"""A real server for browser tests: uvicorn serving the ASGI app on a temporary SQLite database,
driven by Debian's Chromium through Playwright (never a downloaded browser)."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {"alice": "alice-browser-pw", "charlie": "charlie-browser-pw"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's package with `apt-get install chromium`"
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="anomaly_project.settings",
        VAR_DIR=str(var_dir),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    return env


SETUP_USERS = """
from django.contrib.auth import get_user_model
from detection import services
User = get_user_model()
alice = User.objects.create_user("alice", password="{alice}")
User.objects.create_user("charlie", password="{charlie}")
services.project_create(owner=alice, name="Alice's plant", description="Sensors in hall 3")
"""


@pytest.fixture(scope="session")
def live_url(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    env = _server_env(var_dir)
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    subprocess.run(
        [*manage, "shell", "-c", SETUP_USERS.format(**USERS)], cwd=ROOT, env=env, check=True
    )
    port = _free_port()
    log = open(var_dir / "server.log", "w")  # noqa: SIM115 (closed after the server stops)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "anomaly_project.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=1)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"the server did not start:\n{(var_dir / 'server.log').read_text()}")
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


class PageWatch:
    """Everything on a page that would mean it is broken: console errors, page errors,
    failed or 4xx/5xx requests, and any request that leaves this host."""

    def __init__(self, page, base_url: str):
        self.problems: list[str] = []
        host = urlparse(base_url).hostname
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"),
        )

        def check_host(request):
            url = urlparse(request.url)
            if url.scheme in {"http", "https", "ws", "wss"} and url.hostname != host:
                self.problems.append(f"request to another host: {request.url}")

        page.on("request", check_host)

    def _failed(self, request) -> None:
        # A navigation cancels what the previous page was still loading; that is not a fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} {request.failure}")


@pytest.fixture
def watched_page(page, live_url):
    watch = PageWatch(page, live_url)
    yield page, watch
    assert not watch.problems, "\n".join(watch.problems)


def log_in(page, live_url: str, username: str) -> None:
    page.goto(f"{live_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(USERS[username])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_url}/")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

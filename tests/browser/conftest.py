"""A real server for browser tests: uvicorn serving the ASGI app on a temporary SQLite database,
with a Celery worker on the same VAR_DIR (filesystem broker) for training and profiles, driven by
Debian's Chromium through Playwright (never a downloaded browser)."""

import json
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
def browser_context_args(browser_context_args):
    # A laptop screen: every page is checked (and photographed) at this size.
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


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
    drop = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(
        DJANGO_SETTINGS_MODULE="anomaly_project.settings",
        VAR_DIR=str(var_dir),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    return env


SETUP_USERS = """
import json
from django.contrib.auth import get_user_model
from detection import services
User = get_user_model()
alice = User.objects.create_user("alice", password="{alice}")
User.objects.create_user("charlie", password="{charlie}")
services.project_create(owner=alice, name="Alice's plant", description="Sensors in hall 3")
print(json.dumps({{"token": services.api_token_create(user=alice).key}}))
"""


class Site:
    """The server and the worker under test, with alice's API token for scripts."""

    def __init__(self, url: str, token: str, var_dir: Path, env: dict[str, str] | None = None):
        self.url, self.token, self.var_dir, self.env = url, token, var_dir, env or {}

    def shell(self, code: str):
        """Run code in `manage.py shell -c` on the site's database; its last line is JSON."""
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def logs(self) -> str:
        return "\n".join(
            f"----- {name} -----\n{(self.var_dir / name).read_text()[-4000:]}"
            for name in ("server.log", "worker.log")
            if (self.var_dir / name).exists()
        )


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    env = _server_env(var_dir)
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP_USERS.format(**USERS)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = json.loads(setup.stdout.strip().splitlines()[-1])["token"]
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
    # Training and dataset profiles run here, as under `make run`: progress reaches the page
    # through the database (the in-memory channel layer does not cross processes).
    worker_log = open(var_dir / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "anomaly_project",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=1)
            if "ready." in (var_dir / "worker.log").read_text():
                break
        except OSError:
            pass
        if server.poll() is not None or worker.poll() is not None or time.monotonic() > deadline:
            log.close()
            worker_log.close()
            pytest.fail(f"the server or worker did not start:\n{Site(url, '', var_dir).logs()}")
        time.sleep(0.2)
    yield Site(url, token, var_dir, env)
    for process in (server, worker):
        process.terminate()
    for process in (server, worker):
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()
    worker_log.close()


@pytest.fixture(scope="session")
def live_url(site):
    return site.url


class PageWatch:
    """Everything on a page that would mean it is broken: console errors, page errors,
    failed or 4xx/5xx requests, and any request that leaves this host."""

    def __init__(self, page, base_url: str):
        self.problems: list[str] = []
        host = urlparse(base_url).hostname
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and self.problems.append(
                    f"console: {m.text} (at {m.location.get('url')}, {page.url})"
                )
            ),
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


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    return path

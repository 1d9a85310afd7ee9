"""API rates are counted per window with one counter, not a list of every request's time."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from detection.api.throttling import AnonWindowThrottle, UserWindowThrottle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def throttle_for(cls, rate: str, clock: Clock):
    throttle = type("Throttle", (cls,), {"rate": rate})()
    throttle.timer = clock
    return throttle


def request_of(user=None):
    request = Request(APIRequestFactory().get("/api/v1/projects/", REMOTE_ADDR="10.0.0.7"))
    if user is not None:
        request.user = user
    return request


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_it_lets_a_user_through_up_to_the_rate_then_until_the_window_ends(alice, bob):
    clock = Clock(1_000_040.0)  # 20 s into a minute
    throttle = throttle_for(UserWindowThrottle, "3/minute", clock)
    assert [throttle.allow_request(request_of(alice), None) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert throttle.wait() == pytest.approx(40.0)
    assert throttle.allow_request(request_of(bob), None)  # each user has a count of their own
    # The cache holds one number for the window, however many requests came.
    assert cache.get(f"{throttle.get_cache_key(request_of(alice), None)}:{1_000_040 // 60}") == 4
    clock.now += 40.0  # the next minute
    assert throttle.allow_request(request_of(alice), None)


def test_it_counts_anonymous_callers_by_address():
    clock = Clock(5_000.0)
    throttle = throttle_for(AnonWindowThrottle, "2/hour", clock)
    assert [throttle.allow_request(request_of(), None) for _ in range(3)] == [True, True, False]
    assert throttle.wait() == pytest.approx(3600 - 5_000 % 3600)


@pytest.mark.django_db
def test_the_api_answers_429_with_retry_after_over_the_rate(alice_client, monkeypatch):
    monkeypatch.setattr(UserWindowThrottle, "rate", "2/minute", raising=False)
    url = reverse("api-project-list")
    assert [alice_client.get(url).status_code for _ in range(2)] == [200, 200]
    refused = alice_client.get(url)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60

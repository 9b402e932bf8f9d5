"""worker.connection: the Redis URL and its safe form, whether Redis answers, and the one line that says it does
not (against the real Redis at 127.0.0.1:6379 and a port where nothing listens)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.env_support import REDIS_URL, free_port
from worker import connection


def test_the_safe_url_drops_the_password_and_keeps_host_port_and_database() -> None:
    assert connection.safe_redis_url("redis://:s3cret@10.0.0.5:6380/2") == "redis://10.0.0.5:6380/2"
    assert "s3cret" not in connection.safe_redis_url("redis://user:s3cret@host/0")


def test_the_url_and_queue_come_from_the_environment_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("VGP_QUEUE", raising=False)
    assert (connection.redis_url(), connection.queue_name()) == (connection.DEFAULT_REDIS_URL, "vgp")
    monkeypatch.setenv("REDIS_URL", "redis://example:1/3")
    monkeypatch.setenv("VGP_QUEUE", "lab-b")
    assert (connection.redis_url(), connection.queue_name()) == ("redis://example:1/3", "lab-b")


def test_availability_against_a_live_redis_and_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    dead = f"redis://:pw@127.0.0.1:{free_port()}/0"
    assert not connection.redis_available(dead)
    monkeypatch.setenv("REDIS_URL", dead)
    with pytest.raises(connection.QueueError) as raised:
        connection.require_redis()
    message = str(raised.value)
    assert "not reachable" in message and "pw" not in message and "\n" not in message
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    connection.require_redis()  # answers: no error
    assert connection.get_redis() is connection.get_redis()  # one cached client per URL


def test_an_error_line_says_unreachable_or_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:pw@127.0.0.1:1/0")
    assert connection.redis_error_line(RedisConnectionError("boom")) == connection.redis_unreachable_message(
        "ConnectionError"
    )
    refused = connection.redis_error_line(ResponseError("WRONGTYPE\nsecond line"))
    assert refused.startswith("Redis at redis://127.0.0.1:1/0 refused: ResponseError: WRONGTYPE")
    assert "\n" not in refused

"""Celery's Redis broker transport, with one fix so a worker survives Redis restarting.

When the connection to Redis is lost, Celery's consumer first collects the broken connection
(closing its channel and detaching the transport from the connection) and then closes it again.
If a BRPOP was in flight at that moment, the first close of the channel stops at once with the
connection error and leaves the channel open; the second close then tries to put the channel's
unacknowledged messages back through the detached transport, and kombu (5.7) fails with
AttributeError ("'NoneType' object has no attribute 'hostname'", in Channel._connparams). That
is not one of the transport's connection errors, so the consumer calls it unrecoverable and
never consumes again, although Redis is soon back.

Here a channel whose transport is detached says so with redis's ConnectionError, which the
consumer ignores while closing; it then reconnects as it does after any connection loss. The
messages that close could not put back are those of the tasks still running (late
acknowledgement); they finish in the pool, and a sync run whose task is lost anyway is rescued
by the watchdog (webapp.sync.flows.rescue_stale_runs).

Chosen by settings.CELERY_BROKER_TRANSPORT for redis:// brokers.
"""

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection is already closed.")
        params: dict[str, Any] = super()._connparams(  # type: ignore[misc]  # private to kombu, untyped
            asynchronous=asynchronous
        )
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel

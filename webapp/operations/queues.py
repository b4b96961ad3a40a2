"""How many task messages wait in each Celery lane, read straight from the broker.

Kept to one small function so the operations page and the Prometheus metrics share it. Celery has no
portable "queue length" call (`inspect` only sees what workers already reserved), so this asks the
broker itself: on Redis a queue is a list named after it (kombu also keeps one list per priority
step, `<queue>\\x06\\x16<n>`, used only when a task sets a priority); on the filesystem broker every
waiting message is one file `<time>_<uuid>.<queue>.msg` in the queue folder.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.conf import settings

LANES: tuple[str, ...] = ("interactive", "bulk")
# kombu's Redis transport keeps priority steps 3, 6 and 9 in lists "<queue>\x06\x16<step>" (step 0 is
# the bare name); see kombu.transport.redis.PRIORITY_STEPS and Channel.sep.
_REDIS_PRIORITY_SEP = "\x06\x16"
_REDIS_PRIORITY_STEPS = (3, 6, 9)


def queue_depths(lanes: tuple[str, ...] = LANES) -> dict[str, int | None]:
    """Messages waiting per lane; None for a lane whose broker cannot be read right now."""
    broker = str(settings.CELERY_BROKER_URL or "")
    scheme = urlsplit(broker).scheme
    if scheme in ("redis", "rediss"):
        return _redis_depths(broker, lanes)
    if scheme == "filesystem":
        return _filesystem_depths(lanes)
    return dict.fromkeys(lanes)


def _redis_depths(url: str, lanes: tuple[str, ...]) -> dict[str, int | None]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.llen(lane)
                for step in _REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{lane}{_REDIS_PRIORITY_SEP}{step}")
            counts = pipe.execute()
    except redis.RedisError:
        return dict.fromkeys(lanes)
    finally:
        client.close()
    per_lane = 1 + len(_REDIS_PRIORITY_STEPS)
    return {lane: sum(counts[i * per_lane : (i + 1) * per_lane]) for i, lane in enumerate(lanes)}


def _filesystem_depths(lanes: tuple[str, ...]) -> dict[str, int | None]:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folder = options.get("data_folder_in")
    if not isinstance(folder, str) or not folder:
        return dict.fromkeys(lanes)
    depths: dict[str, int | None] = dict.fromkeys(lanes, 0)
    try:
        names = os.listdir(folder)
    except OSError:
        return dict.fromkeys(lanes)
    for name in names:
        # "<time>_<uuid>.<queue>.msg": kombu matches on what follows the first dot, and so do we.
        queue = name.partition(".")[2].removesuffix(".msg")
        if queue in depths and name.endswith(".msg"):
            depths[queue] = (depths[queue] or 0) + 1
    return depths

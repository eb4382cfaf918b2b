"""The shared cache: Django's Redis cache, safe to share a Redis database, failing open.

Throttle counters and the health answer live in the default cache, so they must be shared by
every web process (a per-process cache multiplies every limit by the number of workers).
settings.py makes this the default cache whenever a Redis URL is configured. Two differences
from Django's own RedisCache:
- `clear()` deletes only this cache's keys (KEY_PREFIX), never the whole database, which it
  may share with the broker's queues and locks;
- a Redis that does not answer is logged and treated as a cache miss (writes are dropped):
  a throttle then lets requests through and the health check computes its answer, instead of
  every request failing with a 500 while Redis is down.
"""

import functools
import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
# Keys deleted per round trip by clear().
CLEAR_BATCH_SIZE = 500


def _fail_open(default):
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except REDIS_DOWN as exc:
                logger.warning("Cache unavailable (%s): %s treated as a miss", exc, method.__name__)
                return kwargs.get("default", default) if method.__name__ == "get" else default

        return guarded

    return wrap


class SharedRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        if not self.key_prefix:
            raise ValueError("SharedRedisCache needs a KEY_PREFIX: clear() deletes only the keys under it")

    get = _fail_open(None)(RedisCache.get)
    get_many = _fail_open({})(RedisCache.get_many)
    set = _fail_open(None)(RedisCache.set)
    add = _fail_open(False)(RedisCache.add)
    delete = _fail_open(False)(RedisCache.delete)
    touch = _fail_open(False)(RedisCache.touch)

    def clear(self) -> bool:
        client = self._cache.get_client(write=True)
        batch = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=CLEAR_BATCH_SIZE):
            batch.append(key)
            if len(batch) >= CLEAR_BATCH_SIZE:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        return True

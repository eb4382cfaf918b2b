"""A rate limit shared by every worker process: at most `rate` events per second, together.

Celery's own `rate_limit` is per worker process; a mail provider's sending limit is per account.
`SharedRateLimiter` keeps one schedule in Redis (a GCRA / virtual-scheduling limiter in a Lua
script, run atomically by Redis): each call reserves the next free slot, `1 / rate` seconds
after the previous one, and the caller sleeps until its slot. Redis' own clock is used, so the
workers' clocks do not matter, and no slot is reserved further ahead than MAX_RESERVE_SECONDS
(a caller asks again instead), so a paused or stopped sender wastes at most that much capacity.

Without Redis (inline mode, a RabbitMQ broker) `LocalRateLimiter` spaces the events of this
process alone, which is the whole system in inline mode.
"""

import logging
import threading
import time

import redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# A reservation further ahead than this is refused and the caller asks again: bounds the
# capacity a stopped sender leaves unused, and how long one sleep can be.
MAX_RESERVE_SECONDS = 0.5

# KEYS[1]: the schedule key. ARGV[1]: seconds between events, ARGV[2]: the longest reservation.
# Returns the seconds (as a string, Lua numbers are truncated to integers on the way out) the
# caller waits before its slot; a negative value means "not reserved, ask again after -value".
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > horizon then
  return tostring(-(wait - horizon))
end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((wait + interval) * 1000) + 1000)
return tostring(wait)
"""


class LocalRateLimiter:
    """At most `rate` events per second in this process (all its threads)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class SharedRateLimiter:
    """At most `rate` events per second across every process using the same Redis key."""

    def __init__(self, client: redis.Redis, key: str, rate: float):
        self.client = client
        self.key = key
        self.interval = 1.0 / rate
        self._script = client.register_script(GCRA_SCRIPT)
        self._fallback = LocalRateLimiter(rate)

    def acquire(self) -> None:
        while True:
            try:
                wait = float(self._script(keys=[self.key], args=[repr(self.interval), repr(MAX_RESERVE_SECONDS)]))
            except RedisError as exc:
                # Redis away: keep this process's own pace rather than stop (or flood) sending.
                logger.warning("Shared rate limit unavailable (%s); limiting this process alone", exc)
                self._fallback.acquire()
                return
            if wait >= 0:
                if wait > 0:
                    time.sleep(wait)
                return
            time.sleep(-wait)


class Unlimited:
    def acquire(self) -> None:
        return None


def rate_limiter(*, key: str, rate: float, client: redis.Redis | None):
    """The limiter for `rate` events per second (0 or less: no limit), shared through `client`
    when there is one."""
    if rate <= 0:
        return Unlimited()
    if client is None:
        return LocalRateLimiter(rate)
    return SharedRateLimiter(client, key, rate)

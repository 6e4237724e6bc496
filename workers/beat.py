"""The beat scheduler: RedBeat (one active scheduler across hosts) that rides out a
broker restart instead of exiting.

Stock RedBeat raises out of `tick` on a Redis connection error, which ends `celery beat`
and with it the watchdog; and after a Redis restart with nothing saved, its lock and its
schedule entries are gone, so a scheduler that survived would fire nothing. Here a tick
that cannot reach Redis logs, backs off and tries again; once Redis answers, the lock is
taken again (or this host stands by while another holds it) and the static schedule is
written back if it went missing.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
import structlog
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis

log = structlog.get_logger("vividly.beat")

BROKER_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.LockError,
    OSError,
)
# Between two tries while Redis is away; capped by beat_max_loop_interval.
RECONNECT_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)


class ResilientRedBeatScheduler(RedBeatScheduler):
    _failures = 0
    lock: Any  # RedBeat's redis Lock, None until taken

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if not self._hold_lock():
                return float(self.max_interval)  # standby: another host schedules
            if not get_redis(self.app).exists(self.app.redbeat_conf.schedule_key):
                log.warning("beat: schedule missing in Redis (restarted?); writing it again")
                self.setup_schedule()
            interval = float(super().tick(*args, **kwargs))
        except BROKER_ERRORS as e:
            self._failures += 1
            backoff = RECONNECT_BACKOFF_SECONDS[
                min(self._failures, len(RECONNECT_BACKOFF_SECONDS)) - 1
            ]
            log.warning(
                "beat: broker unavailable; retrying",
                error_type=type(e).__name__,
                failures=self._failures,
                retry_in_s=backoff,
            )
            return min(backoff, float(self.max_interval))
        if self._failures:
            log.info("beat: broker back", failures=self._failures)
            self._failures = 0
        return interval

    def _hold_lock(self) -> bool:
        """True while this host holds the scheduler lock (taking it if it is free)."""
        if not self.lock_key:
            return True
        if self.lock is None:
            client = get_redis(self.app)
            self.lock = client.lock(
                self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval
            )
            # As RedBeat does: extend *to* the timeout, not by it.
            self.lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if self.lock.owned():
            return True
        if self.lock.acquire(blocking=False):
            log.info("beat: acquired the scheduler lock")
            return True
        return False

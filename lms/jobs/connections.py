"""A worker's database connections: kept between jobs, checked before each one.

Celery's Django fixup closes every database connection before and after every job, whatever
`CONN_MAX_AGE` says, so a worker pays a new PostgreSQL connection (a forked server process and
its authentication) per job. Here the fixup is the same except for that one rule: before and
after a job, connections are treated as Django treats them around a web request
(`close_old_connections`): closed if they outlived their age, if the job left an error on
them that a `SELECT 1` does not clear, or if autocommit was left off; kept otherwise.

Worker processes use `DB_WORKER_CONN_MAX_AGE` (settings) instead of `DB_CONN_MAX_AGE`, set
when the worker starts, before the pool forks; web processes keep theirs.

A connection that died while idle (PostgreSQL restarted, the backend terminated, a proxy's idle
timeout) is found by `CONN_HEALTH_CHECKS`: the first query of the next job runs `SELECT 1` on
it first, and on failure Django reconnects before that query, so no job sees the dead
connection. A connection that dies *during* a job fails that job's query as before (the task's
own retry policy applies) and is closed after it.
"""

import os

from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from django.conf import settings
from django.db import close_old_connections, connections


class LmsWorkerFixup(DjangoWorkerFixup):
    def install(self) -> "LmsWorkerFixup":
        for alias in connections:
            connections[alias].settings_dict["CONN_MAX_AGE"] = settings.DB_WORKER_CONN_MAX_AGE
        return super().install()

    def close_database(self, **kwargs) -> None:
        # Before and after every job (and when beat starts embedded). Forked pool processes
        # still drop what they inherited from the parent (on_worker_process_init, unchanged).
        close_old_connections()


class LmsDjangoFixup(DjangoFixup):
    @property
    def worker_fixup(self) -> LmsWorkerFixup:
        # Made on first use, as Celery's own: the app's configuration is not loaded yet when
        # the fixup is created.
        if self._worker_fixup is None:
            self._worker_fixup = LmsWorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def fixup(app, env: str = "DJANGO_SETTINGS_MODULE") -> LmsDjangoFixup | None:
    """`Celery(fixups=[...])`: Celery's `celery.fixups.django:fixup`, with LmsWorkerFixup."""
    if os.environ.get(env) and "django" not in app.loader_cls.lower():
        return LmsDjangoFixup(app).install()
    return None

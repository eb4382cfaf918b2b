"""The result store: django-celery-results' TaskResult table, written in one statement.

`ResultBackend` is django-celery-results' DatabaseBackend (`result_backend="django-db"`) with
one change, the write. The library writes a result with `get_or_create` then `save`: a SELECT
and an INSERT in a transaction of its own, or a SELECT and an UPDATE, each committed with a
WAL flush. Here each write is one `INSERT ... ON CONFLICT (task_id) DO UPDATE` (PostgreSQL):
one round trip, the same columns with the same values (the row's `date_created` and
`date_started` kept on update, `date_started` set by a STARTED write), so Django admin,
`/api/tasks/<id>/`, AsyncResult and the monthly archive read what they always read.

Asynchronous commit, for result rows only (`RESULT_STORE_ASYNC_COMMIT`, on by default): the
statement sets `synchronous_commit = off` for its own transaction (`set_config(..., true)`), so
its commit does not wait for the WAL flush (~2.4 ms on this project's benchmark machine, most
of a result write). Nothing else is affected: the job's own writes commit in their own
transactions, durably, before its result is written, and the setting ends with the statement.
The cost: if the PostgreSQL *server crashes* (not a restart or a failover that shuts down
cleanly), the result writes of its last ~0.6 s (3 x `wal_writer_delay`) may be lost, leaving
such a job's row at its previous state (STARTED, RETRY, or absent) although its work is done
and durable. Every job is idempotent, so running one again changes nothing. Inside a caller's
transaction (a test, an eager call within `atomic`) the write is plain: the caller's commit
stays synchronous.

Other databases (SQLite in development) take the library's own path.

A write that meets a dropped connection (InterfaceError or OperationalError) closes it and is
retried on a new one (`result_backend_always_retry`, bounded by `result_backend_max_retries`).
"""

import functools

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, router
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend
from django_celery_results.models import TaskResult

# What a later write of the same task changes (date_started: only a STARTED write sets it).
UPDATED_ON_CONFLICT = ("status", "result", "traceback", "meta", "content_encoding", "content_type",
                       "periodic_task_name", "task_name", "task_args", "task_kwargs", "worker",
                       "date_done")  # fmt: skip


# A FROM item that turns synchronous_commit off for the statement that names it, commit
# included, and for nothing after it: `INSERT ... SELECT ... FROM <it>`, `DELETE ... USING <it>`.
# For autocommit statements whose loss in a server crash only repeats idempotent work (result
# rows here; published outbox rows in lms.jobs.dispatch). Inside a transaction it would also
# make the caller's commit asynchronous: use it only outside one.
ASYNC_COMMIT_FROM_ITEM = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


@functools.cache
def _fields() -> dict:
    return {field.name: field for field in TaskResult._meta.concrete_fields if field.name != "id"}


@functools.cache
def _upsert_sql(*, async_commit: bool) -> tuple[str, list[str]]:
    fields = _fields()
    names = list(fields)
    quote = connections[router.db_for_write(TaskResult)].ops.quote_name
    columns = ", ".join(quote(fields[name].column) for name in names)
    placeholders = ", ".join("%s" for _ in names)
    updates = [f"{quote(fields[name].column)} = EXCLUDED.{quote(fields[name].column)}" for name in UPDATED_ON_CONFLICT]
    started = quote(fields["date_started"].column)
    table = quote(TaskResult._meta.db_table)
    updates.append(f"{started} = COALESCE(EXCLUDED.{started}, {table}.{started})")
    conflict = f"ON CONFLICT ({quote(fields['task_id'].column)}) DO UPDATE SET {', '.join(updates)}"
    values = f"SELECT {placeholders} FROM {ASYNC_COMMIT_FROM_ITEM}" if async_commit else f"VALUES ({placeholders})"  # noqa: S608
    return f"INSERT INTO {table} ({columns}) {values} {conflict}", names  # the model's own table and columns


class ResultBackend(DatabaseBackend):
    """django-celery-results' database backend, each write one upsert (see the module)."""

    def _store_result(self, task_id, result, status, traceback=None, request=None, using=None):
        alias = using or router.db_for_write(TaskResult)
        connection = connections[alias]
        if connection.vendor != "postgresql":
            return super()._store_result(task_id, result, status, traceback=traceback, request=request, using=using)

        content_type, content_encoding, encoded_result = self.encode_content(result)
        meta = {**self._get_meta_from_request(request), "children": self.current_task_children(request)}
        _, _, encoded_meta = self.encode_content(meta)
        now = timezone.now()
        values = {
            "task_id": task_id,
            "status": status,
            "result": encoded_result,
            "traceback": traceback,
            "meta": encoded_meta,
            "content_encoding": content_encoding,
            "content_type": content_type,
            **self._get_extended_properties(request, traceback),
            "date_created": now,
            "date_done": now,
            "date_started": now if status == "STARTED" else None,
        }
        async_commit = settings.RESULT_STORE_ASYNC_COMMIT and not connection.in_atomic_block
        sql, names = _upsert_sql(async_commit=async_commit)
        fields = _fields()
        params = [fields[name].get_db_prep_save(values[name], connection) for name in names]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return encoded_result

    def exception_safe_to_retry(self, exc):
        # A connection that dropped (server restarted, backend terminated) raises either,
        # depending on when it is noticed; the write is an idempotent upsert.
        # Not inside a caller's transaction: a new connection would not continue it.
        connection = connections[router.db_for_write(TaskResult)]
        if isinstance(exc, (InterfaceError, OperationalError)) and not connection.in_atomic_block:
            connection.close()
            return True
        return False

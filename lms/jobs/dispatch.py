"""The one way code enqueues background work.

`dispatch_on_commit(task, *args)` registers the job to be sent when the current transaction
commits (immediately when there is none), so a worker never sees a row that is not committed.
`dispatch_many_on_commit(task, args_list)` does the same for many jobs of one task at once: the
fan-out path (completions -> certificates, a course's recalculations, an announcement's chunks).
Whether jobs run in-process (`TASKS_FORCE_INLINE`, the default without a broker) or go to the
broker is decided here and nowhere else. Task ids are chosen up front, so callers can answer
`202 {task_id}` before the job exists.

Nothing lost: a queued job is also written to the outbox (`lms.models.OutboxMessage`, one row
per job) in the caller's transaction. After commit it is published and its row deleted; if the
broker does not answer, the row stays and the `dispatch_outbox` sweep publishes it later under
the same task id. While the broker is failing, publishing is not even attempted for
BROKER_DOWN_BACKOFF_SECONDS, so requests stay fast during an outage.

Bulk work costs per batch, not per job: a batch of n jobs is one outbox INSERT (per
OUTBOX_ROWS_PER_STATEMENT rows) in the transaction, one Django on-commit callback, n publishes
on one broker connection (one producer from the app's pool), pipelined where the transport
allows (Redis: one round trip per PUBLISH_PIPELINE_SIZE messages), and one DELETE of the rows
the broker took.

The same job (task, args, kwargs) dispatched twice in one transaction is sent once: saving a
course with five new lessons asks for one progress recalculation, not five. Repeats are found in
a per-transaction index (O(1) a job), rebuilt from Django's own list of pending callbacks
whenever that list was replaced (the transaction ended, or a savepoint rolled back and took its
callbacks with it), so a job of a rolled-back savepoint is neither sent nor folded into.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from celery import Task
from celery.app.amqp import AMQP
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import BatchPublishError, OperationalError

logger = logging.getLogger(__name__)

# After a failed publish, leave new jobs to the outbox sweep for this long instead of making
# every request wait on a broker that is down.
BROKER_DOWN_BACKOFF_SECONDS = 5.0
# Outbox rows per INSERT or DELETE statement. On PostgreSQL the rows travel as one JSON (or
# array) parameter, so this only bounds a statement's size (10,000 jobs: ~1 MB): a
# recalculation completing 5 % of 100,000 enrollments is one statement each way.
OUTBOX_ROWS_PER_STATEMENT = 10_000
# Other databases (SQLite in development) take one placeholder per value: 7 a row, and old
# SQLite builds allow 999 placeholders in a statement.
OUTBOX_ROWS_PER_STATEMENT_OTHER = 100

# Messages handed to the broker per round trip when publishing a batch: kombu's Producer.batch
# buffers the publishes of a transport that supports it (Redis: one pipeline) and this flushes
# every so many, so a failure leaves at most this many in doubt (kept in the outbox and sent
# again by the sweep: same task id, and every task is idempotent). Transports without
# batching (RabbitMQ) publish each message at once, as before.
PUBLISH_PIPELINE_SIZE = 500

# Where the per-transaction index of pending jobs is kept on the connection.
_INDEX_ATTRIBUTE = "_lms_pending_jobs"


def _hashable(value):
    """`value` itself when hashable, else a canonical JSON text (task arguments are JSON)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)
    return value


@dataclass(eq=False)
class PendingJob:
    """One job waiting for its transaction to commit."""

    task: Task
    args: tuple
    kwargs: dict
    key: tuple
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent: bool = False


class PendingBatch:
    """Jobs registered together and sent together: one callback of Django's on_commit machinery.

    Called after commit (or at once without a transaction); a job is sent at most once by it.
    """

    def __init__(self, jobs: list[PendingJob], *, inline: bool):
        self.jobs = jobs
        self.inline = inline

    @property
    def task_ids(self) -> list[str]:
        return [job.task_id for job in self.jobs]

    # A batch is of one task with one set of keyword arguments; a batch of one job also reads
    # as that job (what a test capturing on-commit callbacks looks at).
    @property
    def task(self) -> Task:
        return self.jobs[0].task

    @property
    def kwargs(self) -> dict:
        return self.jobs[0].kwargs

    @property
    def args(self) -> tuple:
        return self._only_job().args

    @property
    def task_id(self) -> str:
        return self._only_job().task_id

    def _only_job(self) -> PendingJob:
        if len(self.jobs) != 1:
            raise AttributeError(f"a batch of {len(self.jobs)} jobs has no single args or task_id: read .jobs")
        return self.jobs[0]

    def __call__(self) -> None:
        jobs = [job for job in self.jobs if not job.sent]
        for job in jobs:
            job.sent = True
        if self.inline:
            for job in jobs:
                job.task.apply(args=job.args, kwargs=job.kwargs, task_id=job.task_id)
            return
        published = dispatcher.publish_many([(job.task.name, job.args, job.kwargs, job.task_id) for job in jobs])
        outbox_forget_many(published)


def _outbox_table_and_fields():
    from lms.models import OutboxMessage

    meta = OutboxMessage._meta
    return meta.db_table, {f.name: f for f in meta.concrete_fields}


def outbox_write_many(jobs: Sequence[PendingJob]) -> None:
    """Insert the jobs' outbox rows in the caller's transaction: one plain INSERT per
    OUTBOX_ROWS_PER_STATEMENT rows (the ORM's bulk_create builds a model instance per row and,
    on PostgreSQL, one placeholder per value)."""
    from django.db import connection

    if not jobs:
        return
    table, fields = _outbox_table_and_fields()
    columns = ", ".join(fields[name].column for name in ("id", "task_name", "args", "kwargs", "created_at",
                                                          "attempts", "last_error"))  # fmt: skip
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The rows as one jsonb parameter, unpacked by the server: a 10,000-row INSERT is
            # one short statement with four parameters.
            sql = (
                f"INSERT INTO {table} ({columns}) "  # noqa: S608 - model's own table and columns
                "SELECT j.id, j.task_name, j.args, j.kwargs, %s, 0, '' "
                "FROM jsonb_to_recordset(%s::jsonb) AS j(id uuid, task_name text, args jsonb, kwargs jsonb)"
            )
            for start in range(0, len(jobs), OUTBOX_ROWS_PER_STATEMENT):
                rows = [{"id": job.task_id, "task_name": job.task.name, "args": list(job.args), "kwargs": job.kwargs}
                        for job in jobs[start : start + OUTBOX_ROWS_PER_STATEMENT]]  # fmt: skip
                cursor.execute(sql, [now, json.dumps(rows)])
            return
        order = ("id", "task_name", "args", "kwargs", "created_at", "attempts", "last_error")
        for start in range(0, len(jobs), OUTBOX_ROWS_PER_STATEMENT_OTHER):
            chunk = jobs[start : start + OUTBOX_ROWS_PER_STATEMENT_OTHER]
            params = []
            for job in chunk:
                values = {"id": uuid.UUID(job.task_id), "task_name": job.task.name, "args": list(job.args),
                          "kwargs": job.kwargs, "created_at": now, "attempts": 0, "last_error": ""}  # fmt: skip
                params += [fields[name].get_db_prep_save(values[name], connection) for name in order]
            row = "(" + ", ".join(["%s"] * len(order)) + ")"
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}", params)  # noqa: S608


def outbox_forget_many(task_ids: Sequence[str]) -> None:
    """Delete published jobs' outbox rows: one plain DELETE per OUTBOX_ROWS_PER_STATEMENT ids
    (the ORM's delete() collects related objects first).

    After commit (autocommit, PostgreSQL) the DELETE's commit does not wait for the WAL flush: a
    DELETE lost in a server crash leaves a published row, which the sweep publishes again under
    the same task id, and jobs are idempotent. Inside a transaction (the sweep) it stays plain,
    so the caller's commit stays synchronous.
    """
    from django.db import connection

    from lms.jobs.result_store import ASYNC_COMMIT_FROM_ITEM

    if not task_ids:
        return
    table, fields = _outbox_table_and_fields()
    pk = fields["id"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            using = "" if connection.in_atomic_block else f" USING {ASYNC_COMMIT_FROM_ITEM}"
            for start in range(0, len(task_ids), OUTBOX_ROWS_PER_STATEMENT):
                chunk = [str(task_id) for task_id in task_ids[start : start + OUTBOX_ROWS_PER_STATEMENT]]
                cursor.execute(f"DELETE FROM {table}{using} WHERE {pk.column} = ANY(%s::uuid[])", [chunk])  # noqa: S608
            return
        for start in range(0, len(task_ids), OUTBOX_ROWS_PER_STATEMENT_OTHER):
            chunk = task_ids[start : start + OUTBOX_ROWS_PER_STATEMENT_OTHER]
            params = [pk.get_db_prep_value(pk.to_python(task_id), connection) for task_id in chunk]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {table} WHERE {pk.column} IN ({placeholders})", params)  # noqa: S608


def outbox_forget(task_id: str) -> None:
    """Delete one published job's outbox row."""
    outbox_forget_many([task_id])


# Celery shows a job's arguments (Flower, the result store's extended fields) as saferepr() of
# them, computed per publish with two settings lookups: a quarter of a publish's CPU (measured:
# 159 -> 119 us a message). For ids and flags, plain repr() is the same text.
_PLAIN_TYPES = (str, int, float, bool, type(None))


def _plain_reprs(args, kwargs) -> dict:
    """`argsrepr`/`kwargsrepr` for send_task when the arguments are plain values (else Celery's own)."""
    if not all(type(value) in _PLAIN_TYPES for value in (*args, *kwargs.values())):
        return {}
    argsrepr, kwargsrepr = repr(list(args)), repr(kwargs)
    if len(argsrepr) > AMQP.argsrepr_maxsize or len(kwargsrepr) > AMQP.kwargsrepr_maxsize:  # else Celery's cut
        return {}
    return {"argsrepr": argsrepr, "kwargsrepr": kwargsrepr}


def _pending_index(connection) -> dict:
    """This transaction's unsent jobs by (task, args, kwargs).

    Django keeps a transaction's callbacks in `connection.run_on_commit` and replaces that list
    (never edits it in place) when the transaction ends or a savepoint rolls back and drops its
    callbacks; appending is the only in-place change. So the index is valid while it was built
    from the very list Django holds now, and is rebuilt from that list otherwise: once per
    transaction and per savepoint rollback, not per job.
    """
    state = getattr(connection, _INDEX_ATTRIBUTE, None)
    if state is not None and state[0] is connection.run_on_commit:
        return state[1]
    index = {}
    for _sids, callback, *_ in connection.run_on_commit:
        if isinstance(callback, PendingBatch):
            for job in callback.jobs:
                if not job.sent:
                    index.setdefault(job.key, job)
    setattr(connection, _INDEX_ATTRIBUTE, (connection.run_on_commit, index))
    return index


class TaskDispatcher:
    def __init__(self):
        self._lock = threading.Lock()
        self._broker_down_until = 0.0

    def dispatch_on_commit(self, task: Task, *args, **kwargs) -> str:
        """Send `task(*args, **kwargs)` after commit; returns the id the job will run under."""
        return self.dispatch_many_on_commit(task, [args], **kwargs)[0]

    def dispatch_many_on_commit(self, task: Task, args_list: Iterable[Sequence], **kwargs) -> list[str]:
        """Send `task(*args, **kwargs)` for every tuple in `args_list` after commit, as one batch;
        returns the task ids in the order of `args_list` (a repeated tuple gets the same id, and
        so does a job already pending in this transaction).

        The interface every fan-out uses (completions -> certificates, announcement chunks, ...):
        whatever the number of jobs, one outbox INSERT now and, after commit, one broker
        connection and one DELETE (per OUTBOX_ROWS_PER_STATEMENT jobs).
        """
        connection = transaction.get_connection()
        inline = settings.TASKS_FORCE_INLINE
        # Outside a transaction Django runs the batch at once: nothing pending to fold into.
        index = _pending_index(connection) if connection.in_atomic_block else {}
        kwargs_key = _hashable(tuple(sorted(kwargs.items())))
        new_jobs, task_ids = [], []
        for args in args_list:
            if isinstance(args, str | bytes):
                raise TypeError(f"args_list holds argument tuples, not {type(args).__name__} ({args!r})")
            args = tuple(args)
            key = (task.name, _hashable(args), kwargs_key)
            job = index.get(key)
            if job is None or job.sent:
                job = PendingJob(task=task, args=args, kwargs=kwargs, key=key)
                index[key] = job
                new_jobs.append(job)
            task_ids.append(job.task_id)
        if new_jobs:
            if not inline:
                outbox_write_many(new_jobs)
            transaction.on_commit(PendingBatch(new_jobs, inline=inline))
        return task_ids

    def publish(self, task_name: str, args, kwargs, *, task_id: str) -> bool:
        """Hand one job to the broker now. False (logged, never raised) if the broker is down."""
        return bool(self.publish_many([(task_name, args, kwargs, task_id)]))

    def publish_many(self, messages: Sequence[tuple[str, Sequence, dict, str]]) -> list[str]:
        """Hand jobs (task name, args, kwargs, task id) to the broker now, in order, on one
        connection. Returns the ids the broker took: all of them, or those before the first
        refusal (logged, never raised) when the broker is down; the rest stay in the outbox."""
        from lms.celery import app

        if not messages:
            return []
        if time.monotonic() < self._broker_down_until:
            logger.warning("Broker marked down; %d job(s) (%s %s ...) wait in the outbox",
                           len(messages), messages[0][0], messages[0][3])  # fmt: skip
            return []
        published, pending = [], []
        try:
            with app.producer_or_acquire() as producer:
                pipelined = producer.supports_batch_publish
                # max_size: room for every command of a pipeline's messages (a message is one
                # LPUSH, more with queue expiry), so only the explicit flush below sends them.
                declared = set()
                with producer.batch(max_size=4 * PUBLISH_PIPELINE_SIZE) as batch:
                    for task_name, args, kwargs, task_id in messages:
                        # Celery declares the task's queue before every publish; once per task
                        # (so per queue: routing is by task name) is enough for a batch.
                        options = {"declare": []} if task_name in declared else {}
                        declared.add(task_name)
                        options.update(_plain_reprs(args, kwargs))
                        app.send_task(task_name, args=list(args), kwargs=kwargs, task_id=task_id, producer=producer,
                                      **options)  # fmt: skip
                        pending.append(task_id)
                        if not pipelined or len(pending) == PUBLISH_PIPELINE_SIZE:
                            batch.flush()
                            published += pending
                            pending = []
                # Leaving the batch flushed the rest.
                published += pending
        except (OperationalError, BatchPublishError):
            with self._lock:
                self._broker_down_until = time.monotonic() + BROKER_DOWN_BACKOFF_SECONDS
            waiting = messages[len(published)]
            logger.exception("Broker unreachable: %d of %d job(s) published; %s %s and the rest wait in the outbox",
                             len(published), len(messages), waiting[0], waiting[3])  # fmt: skip
            return published
        with self._lock:
            self._broker_down_until = 0.0
        return published

    def broker_marked_down(self) -> bool:
        return time.monotonic() < self._broker_down_until

    def reset(self) -> None:
        """Forget a past broker failure (tests, and the sweep once a publish works again)."""
        with self._lock:
            self._broker_down_until = 0.0


dispatcher = TaskDispatcher()
dispatch_on_commit = dispatcher.dispatch_on_commit
dispatch_many_on_commit = dispatcher.dispatch_many_on_commit

"""The stuck-job sweep: jobs left STARTED by a worker that died, healed with no manual step.

A job whose worker is SIGKILLed (out of memory, host lost) stays STARTED in the result store.
Usually the broker hands the message out again (Redis after CELERY_VISIBILITY_TIMEOUT, RabbitMQ
when the connection drops) and the job runs again under its own id. When the message is lost
as well (a Redis restart without persistence, a purged queue), nothing ever runs it: the row
says STARTED forever. The sweep (task `lms.tasks.sweep_stuck_jobs`, every few minutes from beat)
finds such rows and heals them:

- a candidate is a STARTED row whose start lies further back than its task's hard time limit
  (`time_limit`, else CELERY_TASK_TIME_LIMIT) plus STUCK_JOB_MARGIN_SECONDS: no live worker can
  still be running it. The margin defaults to the broker's visibility timeout, so Redis's own
  redelivery (same id) always comes first and the sweep only acts on a message that is gone;
- the worker named in the row's `worker` field is pinged; a worker that answers and still
  lists the job as active or reserved keeps it (a row is never taken from a live run); a
  worker that does not answer, or answers without the job (it restarted under the same name),
  lost it;
- a lost job is re-queued under a new id from its stored name and arguments (lms.jobs.rerun:
  every task here is idempotent), and its old row is marked FAILURE with a "worker lost" reason
  naming the new id (`meta.stuck`, `meta.rerun_as`), in one transaction under the row's lock,
  with the new job's outbox row: a row is healed once however many sweeps run;
- a task that must not be re-run automatically sets `rerun_when_stuck = False` (LmsTask's
  default is True): its row is only marked FAILURE and staff are told (notify_admin), for an
  operator to re-run by hand (POST /api/tasks/<id>/retry/, the admin action, `rerun_failed`).

Only jobs that write STARTED are covered: tasks with track_started (CELERY_TASK_TRACK_STARTED,
or a task's own `track_started`). A job that records no STARTED row has nothing to sweep.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import states
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from lms.errors import Conflict
from lms.jobs.alerts import notify_admin
from lms.jobs.rerun import job_requeue
from lms.jobs.results import result_meta

logger = logging.getLogger(__name__)

# STARTED rows one sweep examines; the next sweep takes the rest.
STUCK_SWEEP_BATCH_SIZE = 200
# How long the sweep waits for the workers it pings (one broadcast for all of them).
WORKER_PING_TIMEOUT_SECONDS = 2.0


@dataclass
class SweepReport:
    examined: int = 0
    rerun: dict[str, str] = field(default_factory=dict)  # old id -> new id
    marked: list[str] = field(default_factory=list)  # marked FAILURE, not re-run
    alive: list[str] = field(default_factory=list)  # still held by a live worker

    def as_dict(self) -> dict:
        return {"examined": self.examined, "rerun": self.rerun, "marked": self.marked, "alive": self.alive}


def _hard_limit(task_name: str) -> float:
    from lms.celery import app

    task = app.tasks.get(task_name or "")
    return float((task.time_limit if task is not None else None) or app.conf.task_time_limit or 0)


def _rerun_when_stuck(task_name: str) -> bool:
    from lms.celery import app

    task = app.tasks.get(task_name or "")
    return task is not None and getattr(task, "rerun_when_stuck", True)


def _jobs_held(worker_names: set[str]) -> dict[str, set[str]]:
    """For each worker that answers: the ids it is running or holds reserved. Missing = silent."""
    from lms.celery import app

    if not worker_names:
        return {}
    destination = sorted(worker_names)
    replies = app.control.ping(destination=destination, timeout=WORKER_PING_TIMEOUT_SECONDS) or []
    answering = {name for reply in replies for name in reply}
    if not answering:
        return {}
    inspect = app.control.inspect(destination=sorted(answering), timeout=WORKER_PING_TIMEOUT_SECONDS)
    held = {name: set() for name in answering}
    for listing in (inspect.active() or {}, inspect.reserved() or {}):
        for name, jobs in listing.items():
            held.setdefault(name, set()).update(job.get("id") for job in jobs or ())
    return held


def stuck_candidates(*, now: datetime, margin_seconds: float) -> list[TaskResult]:
    """STARTED rows older than their task's hard time limit plus the margin, oldest first."""
    rows = TaskResult.objects.filter(
        status=states.STARTED, date_created__lt=now - timedelta(seconds=margin_seconds)
    ).order_by("date_created")[:STUCK_SWEEP_BATCH_SIZE]
    return [
        row
        for row in rows
        if (row.date_started or row.date_created) + timedelta(seconds=_hard_limit(row.task_name) + margin_seconds)
        <= now
    ]


def _lost_reason(row: TaskResult, *, answered: bool, new_id: str | None, detail: str = "") -> str:
    worker = row.worker or "an unknown worker"
    why = "answers but no longer holds the job" if answered else "no longer answers"
    action = f"re-run as {new_id}" if new_id else "not re-run automatically (re-run it by hand)"
    started = f"{row.date_started or row.date_created:%Y-%m-%d %H:%M:%S}"
    return f"Worker lost: {worker} {why}; the job STARTED at {started} UTC is past its time limit; {action}.{detail}"


def _heal(task_id: str, *, now: datetime, answered: bool, report: SweepReport) -> None:
    with transaction.atomic():
        row = TaskResult.objects.select_for_update().filter(task_id=task_id, status=states.STARTED).first()
        if row is None:  # finished, or healed by another sweep, meanwhile
            return
        new_id, detail = None, ""
        if _rerun_when_stuck(row.task_name):
            try:
                new_id = job_requeue(row)
            except Conflict as exc:
                detail = f" {exc.message}"
        reason = _lost_reason(row, answered=answered, new_id=new_id, detail=detail)
        meta = {
            **result_meta(row),
            "stuck": {"reason": reason, "worker": row.worker, "detected_at": now.isoformat()},
            **({"rerun_as": new_id} if new_id else {}),
        }
        TaskResult.objects.filter(pk=row.pk).update(
            status=states.FAILURE,
            result=json.dumps({"exc_type": "WorkerLostError", "exc_message": [reason], "exc_module": "lms.jobs.stuck"}),
            traceback=reason,
            meta=json.dumps(meta),
            date_done=now,
        )
    if new_id:
        report.rerun[task_id] = new_id
        logger.warning("Stuck job %s %s: %s", row.task_name, task_id, reason)
    else:
        report.marked.append(task_id)
        # Nobody re-runs it: staff hear about it, as about any job that failed for good.
        notify_admin(subject=f"Task {row.task_name} lost with its worker", message=f"Task {task_id}: {reason}")


def stuck_jobs_sweep(*, margin_seconds: float | None = None, now: datetime | None = None) -> dict:
    """Heal STARTED jobs whose worker lost them (see the module docstring). Returns
    `{examined, rerun: {old id: new id}, marked: [ids], alive: [ids]}`."""
    margin = settings.STUCK_JOB_MARGIN_SECONDS if margin_seconds is None else margin_seconds
    now = now or timezone.now()
    candidates = stuck_candidates(now=now, margin_seconds=margin)
    report = SweepReport(examined=len(candidates))
    if not candidates:
        return report.as_dict()
    held = _jobs_held({row.worker for row in candidates if row.worker})
    for row in candidates:
        if row.task_id in held.get(row.worker, ()):
            report.alive.append(row.task_id)
            continue
        _heal(row.task_id, now=now, answered=row.worker in held, report=report)
    return report.as_dict()

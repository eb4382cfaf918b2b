"""Re-running failed jobs: one service behind the API (POST /api/tasks/<id>/retry/), the admin
action and `manage.py rerun_failed`.

Invariants:
- only a FAILURE row is re-run (anything else is a Conflict; an unknown id is NotFound), with its
  stored task name and arguments (lms.jobs.results), under a new id;
- the new job goes through the dispatcher (dispatch_on_commit): its outbox row is written in the
  same transaction that records `rerun_as: <new id>` in the old row's meta, under the old row's
  lock, so a job is re-run once however many operators click at once; a row already re-run is a
  Conflict naming the new id;
- the old row keeps its history (status, result, traceback); the chain of re-runs is read by
  following `rerun_as` (a re-run that fails is re-run in turn: A -> B -> C).
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from celery import states
from django.db import transaction
from django_celery_results.models import TaskResult

from lms.errors import Conflict, NotFound
from lms.jobs.dispatch import dispatch_on_commit
from lms.jobs.results import result_call, result_meta, result_meta_update

logger = logging.getLogger(__name__)

# Rows per query when the command walks the failed results.
RERUN_BATCH_SIZE = 500


def job_requeue(row: TaskResult) -> str:
    """Queue `row`'s job again (after the caller's commit) from its stored name and arguments;
    returns the new task id. Conflict if the task is no longer registered or its arguments were
    not stored in full. The caller records the new id on the row."""
    from lms.celery import app

    task = app.tasks.get(row.task_name or "")
    if task is None:
        raise Conflict(f"Task {row.task_name!r} is not registered any more; it cannot be re-run.")
    args, kwargs = result_call(row)
    return dispatch_on_commit(task, *args, **kwargs)


def task_result_rerun(*, task_id: str) -> str:
    """Re-run the failed job `task_id` under a new id; returns that id."""
    with transaction.atomic():
        row = TaskResult.objects.select_for_update().filter(task_id=task_id).first()
        if row is None:
            raise NotFound(f"No stored result for task {task_id}.")
        if row.status != states.FAILURE:
            raise Conflict(f"Task {task_id} is {row.status}; only a FAILURE can be re-run.")
        previous = result_meta(row).get("rerun_as")
        if previous:
            raise Conflict(f"Task {task_id} was already re-run as {previous}; re-run that one if it failed too.")
        new_id = job_requeue(row)
        result_meta_update(task_id=task_id, rerun_as=new_id)
    logger.info("Re-running failed task %s %s as %s", row.task_name, task_id, new_id)
    return new_id


def failed_results_to_rerun(*, task_name: str | None = None, since: datetime | None = None):
    """FAILURE rows not yet re-run, oldest first, optionally of one task and done since `since`."""
    rows = TaskResult.objects.filter(status=states.FAILURE).exclude(meta__contains='"rerun_as"')
    if task_name:
        rows = rows.filter(task_name=task_name)
    if since:
        rows = rows.filter(date_done__gte=since)
    return rows.order_by("date_done", "id")


@dataclass(frozen=True)
class RerunOutcome:
    task_id: str
    new_id: str | None = None
    error: str = ""


def task_results_rerun(*, task_ids: list[str]) -> list[RerunOutcome]:
    """Re-run each failed job of `task_ids`, each in its own transaction; a refusal is reported
    in its outcome and does not stop the others."""
    outcomes = []
    for task_id in task_ids:
        try:
            outcomes.append(RerunOutcome(task_id, task_result_rerun(task_id=task_id)))
        except (Conflict, NotFound) as exc:
            outcomes.append(RerunOutcome(task_id, error=exc.message))
    return outcomes


def rerun_chain(*, task_id: str) -> list[str]:
    """The ids of a job's re-runs in order, starting from `task_id`'s earliest ancestor."""
    ancestors = []
    current = task_id
    while (parent := TaskResult.objects.filter(meta__contains=f'"rerun_as": "{current}"').first()) is not None:
        if parent.task_id in ancestors or parent.task_id == task_id:
            break
        ancestors.insert(0, parent.task_id)
        current = parent.task_id
    chain = [*ancestors, task_id]
    current = task_id
    while (row := TaskResult.objects.filter(task_id=current).first()) is not None:
        following = result_meta(row).get("rerun_as")
        if not following or following in chain:
            break
        chain.append(following)
        current = following
    return chain

"""Progress of long jobs: what a job spanning many items has done so far, while it runs.

    from lms.jobs.progress import job_progress

    for done, item in enumerate(items, 1):
        handle(item)
        job_progress(done=done, total=len(items))

`job_progress(done=, total=)` records `{done, total}` in the running job's result row (its
`meta`, lms.jobs.results), where GET /api/tasks/<id>/ answers it as `progress` and the admin's
task results list draws a bar. Called outside a task, or in a task run in-process (inline
mode, `task.apply`), it does nothing: nobody can poll such a job while it runs.

Invariants:
- writes are throttled: at most one per PROGRESS_MIN_INTERVAL_SECONDS per job (plus the first
  call and the last, `done >= total`), so reporting after every item costs one UPDATE a second,
  not one per item; `force=True` writes now;
- progress lives only while the job runs: the row's final store (SUCCESS, FAILURE) replaces the
  meta, and the API shows progress only for a job not yet finished;
- one writer per row: the job itself (a fan-out whose chunks run elsewhere reports from
  whichever job holds the counters, passing `task_id=` of the job the operator follows, with
  absolute numbers read from those counters, never increments);
- a job whose task does not record STARTED (no row yet) gets its STARTED row written by the
  first report, so the API can answer it.
"""

import logging
import time

from celery import states
from celery._state import get_current_task  # what django-celery-results reads the request from

from lms.jobs.results import result_meta_update

logger = logging.getLogger(__name__)

# One progress write per job at most this often: cheap next to a job that lasts minutes, and
# often enough for an operator watching the bar.
PROGRESS_MIN_INTERVAL_SECONDS = 1.0
# The throttle remembers this many jobs per process (more means a leak: forget them all).
_THROTTLE_MAX_JOBS = 1000

_last_write: dict[str, float] = {}


def job_progress(*, done: int, total: int | None, task_id: str | None = None, force: bool = False) -> bool:
    """Record that the job has done `done` of `total` items (`total` None when not known yet).

    `task_id` defaults to the running task's own id. Returns True when the report was written,
    False when throttled or when there is no job to report for.
    """
    task = get_current_task()
    own = task_id is None
    if own:
        if task is None or task.request.id is None or task.request.is_eager or task.request.called_directly:
            return False
        task_id = task.request.id
    now = time.monotonic()
    finished = total is not None and done >= total
    last = _last_write.get(task_id)
    if not force and not finished and last is not None and now - last < PROGRESS_MIN_INTERVAL_SECONDS:
        return False
    if len(_last_write) >= _THROTTLE_MAX_JOBS:
        _last_write.clear()
    if finished:
        _last_write.pop(task_id, None)
    else:
        _last_write[task_id] = now
    progress = {"done": int(done), "total": None if total is None else int(total)}
    if result_meta_update(task_id=task_id, progress=progress):
        return True
    if own:
        # No row yet (the task does not track STARTED): write it, then the progress.
        task.backend.store_result(task_id, None, states.STARTED, request=task.request)
        return bool(result_meta_update(task_id=task_id, progress=progress))
    logger.debug("No result row for job %s: progress %s not recorded", task_id, progress)
    return False


def job_progress_forget() -> None:
    """Forget every throttle (tests)."""
    _last_write.clear()

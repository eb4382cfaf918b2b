"""Reading and annotating rows of the result store (django-celery-results' TaskResult).

What a row holds that the console uses:
- `task_name`, and the job's arguments as `task_args` / `task_kwargs` (CELERY_RESULT_EXTENDED).
  django-celery-results stores them JSON-encoded, and what it encodes is the message's
  `argsrepr` / `kwargsrepr`: the Python repr of the arguments, cut at 1024 characters
  (Celery's argsrepr_maxsize). Since every task here takes JSON values (ids, ISO dates), the repr
  reads back exactly with `ast.literal_eval`; a repr that was cut does not, and is refused.
  A job run in-process (`task.apply`) stores the arguments themselves (a JSON list / object).
- `meta`: a JSON object. LmsTask writes `queue`; the console adds `progress` ({done, total},
  while a long job runs), `rerun_as` (the id a failed job was re-run under) and `stuck`
  (why the stuck-job sweep marked it failed).
"""

import ast
import json

from celery.app.amqp import AMQP
from django_celery_results.models import TaskResult

from lms.errors import Conflict

# Celery cuts argsrepr/kwargsrepr at this many characters; a stored repr this long may have been cut.
REPR_MAX_CHARS = AMQP.argsrepr_maxsize


def json_decode(value: str | None):
    """A stored JSON string as its value (the raw string if it is not JSON)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def result_meta(row: TaskResult) -> dict:
    meta = json_decode(row.meta)
    return meta if isinstance(meta, dict) else {}


def result_meta_update(*, task_id: str, **values) -> int:
    """Merge `values` into a row's meta (read, merge, write). Returns the rows written (0 or 1).

    Not atomic against a concurrent writer of the same row's meta: callers either hold the row's
    lock (select_for_update) or are the only writer while the job runs (progress).
    """
    row = TaskResult.objects.filter(task_id=task_id).only("meta").first()
    if row is None:
        return 0
    meta = {**result_meta(row), **values}
    return TaskResult.objects.filter(task_id=task_id).update(meta=json.dumps(meta))


def _stored_value(raw: str | None, *, expected: type, what: str):
    value = json_decode(raw)
    if value is None:
        return expected()
    if isinstance(value, str):  # the message's repr of the arguments
        cut = Conflict(
            f"The job's {what} were not stored in full (longer than Celery keeps), so it cannot be re-run "
            "from its result; run it with `manage.py run_task` instead."
        )
        # A cut repr may still parse (a string cut short ends in "...'"): never trust one at the limit.
        if len(value) >= REPR_MAX_CHARS:
            raise cut
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise cut from exc
    if expected is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, expected):
        raise Conflict(f"The job's stored {what} are not a {expected.__name__}: {value!r}")
    return value


def result_call(row: TaskResult) -> tuple[list, dict]:
    """The (args, kwargs) a stored job was called with; Conflict if they cannot be read back."""
    return (
        _stored_value(row.task_args, expected=list, what="arguments"),
        _stored_value(row.task_kwargs, expected=dict, what="keyword arguments"),
    )

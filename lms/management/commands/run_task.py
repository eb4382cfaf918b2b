"""Run any registered Celery task once, by name: in this process, or through the broker."""

import difflib
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError

from lms.celery import app
from lms.management.sending import send_from_command


def _project_tasks() -> list[str]:
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _parse_json(raw: str, *, option: str, expected: type, example: str):
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{option} is not valid JSON ({exc.msg}); give a JSON {expected.__name__}, e.g. {example}"
        ) from exc
    if not isinstance(value, expected):
        raise CommandError(f"{option} must be a JSON {expected.__name__}, e.g. {example}; got {raw!r}")
    return value


class Command(BaseCommand):
    help = (
        "Run a registered task once. By default it runs here and now (task.apply) and prints its "
        "result; with --async it is sent to the broker for a worker and its id is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("task_name", help="Registered task name, e.g. lms.users.tasks.cleanup_expired_tokens")
        # dest is not "args": Django passes an option named args on as positional arguments.
        parser.add_argument(
            "--args", dest="args_json", default="[]", help="Positional arguments as a JSON list, e.g. '[\"<uuid>\"]'"
        )
        parser.add_argument(
            "--kwargs",
            dest="kwargs_json",
            default="{}",
            help="Keyword arguments as a JSON object, e.g. '{\"days\": 7}'",
        )
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="Send it to the broker for a worker instead of running it here; prints the task id.",
        )
        parser.add_argument("--queue", help="With --async: the queue to send it to (default: its route).")

    def handle(self, *args, task_name: str, args_json: str, kwargs_json: str, **options):
        task = app.tasks.get(task_name)
        if task is None:
            close = difflib.get_close_matches(task_name, _project_tasks(), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise CommandError(
                f"Unknown task {task_name!r}.{hint} Registered tasks:\n  " + "\n  ".join(_project_tasks())
            )
        task_args = _parse_json(args_json, option="--args", expected=list, example="'[\"a\", 1]'")
        task_kwargs = _parse_json(kwargs_json, option="--kwargs", expected=dict, example='\'{"key": "value"}\'')
        queue = options["queue"]
        if queue is not None:
            declared = sorted(q.name for q in app.conf.task_queues or ())
            if queue not in declared:
                raise CommandError(f"Unknown queue {queue!r}. Declared queues: {', '.join(declared)}.")
            if not options["run_async"]:
                raise CommandError("--queue only applies with --async: an inline run uses no queue.")

        if options["run_async"]:
            self._send(task, task_args, task_kwargs, queue)
        else:
            self._run_here(task, task_args, task_kwargs)

    def _run_here(self, task, task_args, task_kwargs):
        result = task.apply(args=task_args, kwargs=task_kwargs)
        if result.failed():
            raise CommandError(f"Task {task.name} ({result.id}) failed: {result.result!r}")
        self.stdout.write(json.dumps(result.result, indent=2, default=str))
        self.stdout.write(self.style.SUCCESS(f"Task {task.name} ran here as {result.id}: {result.state}."))

    def _send(self, task, task_args, task_kwargs, queue):
        if queue is None:
            send_from_command(self, task, *task_args, **task_kwargs)
            return
        # The dispatcher routes by task name and cannot express an operator's choice of queue;
        # with no transaction open there is no uncommitted data for the job to outrun.
        if settings.TASKS_FORCE_INLINE:
            raise CommandError("--queue needs a broker, and none is in use (TASKS_FORCE_INLINE).")
        try:
            task_id = task.apply_async(args=task_args, kwargs=task_kwargs, queue=queue).id
        except OperationalError as exc:
            raise CommandError(f"The broker is not answering ({exc}); nothing was sent.") from exc
        self.stdout.write(task_id)

"""What every command's `--async` does: hand one job to the dispatcher and print its id."""

from django.conf import settings
from django.core.management.base import BaseCommand

from lms.jobs.dispatch import dispatch_on_commit


def send_from_command(command: BaseCommand, task, *args, **kwargs) -> str:
    """Send `task` now (no transaction is open in a command, so the dispatcher publishes at once)
    and print its id; without a broker the dispatcher runs it in this process, which is said."""
    task_id = dispatch_on_commit(task, *args, **kwargs)
    if settings.TASKS_FORCE_INLINE:
        warning = "No broker in use (TASKS_FORCE_INLINE): the task ran in this process."
        command.stderr.write(command.style.WARNING(warning))
    command.stdout.write(task_id)
    return task_id

"""The real Celery app, plus the faults a test asks for through the environment.

Workers of the fault suite run `celery -A tests.faults.fault_app worker`: the production app
and tasks, unchanged, with these additions only in their processes:
- LMS_FAULT_CERTIFICATE_DELAY=<seconds>: sleep after the PDF is written and before the
  certificate row is saved, inside the issuing transaction (a wide window for a kill/restart);
- LMS_FAULT_TIME_LIMITS=<task name>=<seconds>[,...]: shorter hard time limits for those tasks
  (read by the stuck-job sweep, so a test need not wait minutes for a job to count as stuck);
- a task `faults.crash_process` that counts its runs in a file and kills its own process.
"""

import os
import signal
import time
from pathlib import Path

from celery.signals import worker_process_init

from lms.celery import app

__all__ = ("app",)


@worker_process_init.connect
def _slow_certificates(**kwargs):
    delay = float(os.environ.get("LMS_FAULT_CERTIFICATE_DELAY", "0"))
    if not delay:
        return
    from certificates import services

    real_write = services._write_pdf

    def write_then_wait(certificate):
        real_write(certificate)
        time.sleep(delay)

    services._write_pdf = write_then_wait


@worker_process_init.connect
def _short_time_limits(**kwargs):
    for item in filter(None, os.environ.get("LMS_FAULT_TIME_LIMITS", "").split(",")):
        name, seconds = item.rsplit("=", 1)
        app.tasks[name].time_limit = float(seconds)


@app.task(name="faults.crash_process", max_retries=2)
def crash_process(counter_file: str) -> None:
    with Path(counter_file).open("a") as counter:
        counter.write("run\n")
    os.kill(os.getpid(), signal.SIGKILL)

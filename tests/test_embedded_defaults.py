"""The newcomer's path (scripts/run) on the embedded defaults: SQLite, tasks inline, file e-mail.

The rest of the suite runs on PostgreSQL; this proves the same code paths work where a new
developer starts, with no services at all.
"""

import json
import os
import subprocess
import sys

from tests.processes import ROOT

REPORT = """
import json
from certificates.models import Certificate
from enrollments.models import Enrollment
from notifications.models import Notification
print(json.dumps({
    "enrollments": Enrollment.objects.count(),
    "completed": Enrollment.objects.filter(status="completed").count(),
    "certificates": Certificate.objects.count(),
    "sent": Notification.objects.filter(status="sent").count(),
    "pending": Notification.objects.exclude(status="sent").count(),
}))
"""


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_demo_runs_on_sqlite_with_inline_tasks_and_file_email(tmp_path):
    # given the embedded defaults: no broker, no PostgreSQL (only the SQLite file is moved aside)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "REDIS_", "DJANGO_"))}
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )

    # when the newcomer's run command prepares the demo (twice: it must be idempotent)
    manage("migrate", "--no-input", env=env)
    first = manage("seed_demo", env=env)
    second = manage("seed_demo", env=env)
    report = json.loads(manage("shell", "-c", REPORT, env=env).strip().splitlines()[-1])

    # then every background job ran in-process: completions have certificates and PDFs, and
    # every e-mail was written to a file
    assert "5 account(s) and 7 enrollment(s) created" in first
    assert "0 account(s) and 0 enrollment(s) created" in second
    assert report["enrollments"] == 7
    assert report["certificates"] == report["completed"] == 3
    assert len(list((tmp_path / "media" / "certificates").glob("*.pdf"))) == 3
    assert report["pending"] == 0
    assert len(list((tmp_path / "mail").glob("*.log"))) == report["sent"] > 7

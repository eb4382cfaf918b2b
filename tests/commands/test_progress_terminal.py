"""Progress bars of long commands, seen in a terminal: a real pseudo-terminal, as a person has.

The command runs as its own process on a pty (stdout and stderr both), against the test
database. What a person would see is rebuilt from the bytes: each carriage return starts the
line over, so a log line printed through a bar shows up glued to it.
"""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.factories import course_with_lessons
from tests.processes import ROOT, shared_database_url

pytestmark = pytest.mark.django_db(transaction=True)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ")


def run_on_a_terminal(args: list[str], *, columns: int, lines: int, timeout: float = 60.0) -> str:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "DATABASE_URL": shared_database_url(), "TASKS_FORCE_INLINE": "true", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the other end closed: the command is done
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        assert process.wait(timeout=10) == 0, output.decode(errors="replace")
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return output.decode(errors="replace")


def screen_lines(output: str) -> list[str]:
    """The lines as a terminal shows them: after a carriage return, text overwrites from column 0."""
    shown = []
    for line in output.replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        for segment in line.split("\r"):
            cells[: len(segment)] = segment
        shown.append("".join(cells).rstrip())
    return [line for line in shown if line]


@pytest.mark.parametrize(
    ("columns", "lines"), [(100, 30), (0, 0)], ids=["sized terminal", "terminal reporting no size"]
)
def test_recalculate_progress_shows_its_bar_in_a_terminal_with_the_logs_above_it(columns, lines):
    # given three courses, so `--all` walks them with a bar and logs a line for each
    for _ in range(3):
        course_with_lessons(2)

    # when the command runs in a terminal
    output = run_on_a_terminal(["recalculate_progress", "--all"], columns=columns, lines=lines)

    # then the finished bar is on the screen
    shown = screen_lines(output)
    assert any(re.search(r"100%\|█+\| 3/3 ", line) for line in shown), shown
    # and every log line stands on its own line, not glued to (or through) a bar
    logs = [line for line in shown if " INFO " in line]
    assert len([line for line in logs if "Recalculated course" in line]) == 3, shown
    assert all(LOG_LINE.match(line) for line in logs), logs
    assert not any("course/s]" in line for line in logs), logs
    # and the summary follows
    assert "Recalculated 3 course(s)" in shown[-1]

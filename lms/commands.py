"""Pieces shared by the management commands: option parsing and the progress bar."""

import os
import sys
import uuid

from django.core.management.base import CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

# The size assumed for a terminal that reports none: a new pseudo-terminal, some CI consoles and
# `docker exec` sessions answer 0 x 0, on which tqdm draws nothing at all.
FALLBACK_COLUMNS, FALLBACK_LINES = 80, 24


def _terminal_size(stream) -> os.terminal_size | None:
    """The stream's terminal size; None if it is not a terminal (a pipe or a file)."""
    try:
        return os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None


class ProgressBar(tqdm):
    """tqdm as every long management command shows it: on stderr, visible in any terminal,
    with log lines printed above the bar instead of through it.

    Takes tqdm's arguments (`ProgressBar(iterable, total=..., unit=..., desc=..., disable=...)`,
    or as a context manager with `.update(n)`). While the bar is open, console log handlers write
    through tqdm (tqdm.contrib.logging), which clears the bar, prints the line and redraws it;
    closing the bar (the end of the loop or the `with`) puts the handlers back.
    """

    def __init__(self, *args, **kwargs):
        stream = kwargs.setdefault("file", sys.stderr)
        size = _terminal_size(stream)
        if size is not None and 0 in size:
            kwargs.setdefault("ncols", size.columns or FALLBACK_COLUMNS)
            kwargs.setdefault("nrows", size.lines or FALLBACK_LINES)
        elif size is not None:
            kwargs.setdefault("dynamic_ncols", True)  # follows the window when it is resized
        super().__init__(*args, **kwargs)
        self._log_redirect = None
        if not self.disable:
            self._log_redirect = logging_redirect_tqdm(tqdm_class=type(self))
            self._log_redirect.__enter__()

    def close(self):
        try:
            super().close()
        finally:
            redirect, self._log_redirect = getattr(self, "_log_redirect", None), None
            if redirect is not None:
                redirect.__exit__(None, None, None)


def existing_course_id(value: str) -> uuid.UUID:
    """The value of a --course option: the id of an existing course, or a CommandError saying what
    to do."""
    from courses.models import Course

    try:
        course_id = uuid.UUID(value)
    except ValueError as exc:
        raise CommandError(f"--course takes a course id (UUID), got {value!r}.") from exc
    if not Course.objects.filter(pk=course_id).exists():
        raise CommandError(f"No course with id {course_id}. Course ids are listed in the admin.")
    return course_id

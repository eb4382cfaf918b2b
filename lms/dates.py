"""Dates given by people and schedules: parsed one way everywhere (tasks and commands)."""

from datetime import date

from django.utils.dateparse import parse_date


def day_parse(value: str) -> date:
    """`YYYY-MM-DD` -> that date. ValueError, saying what to give, for anything else."""
    try:
        parsed = parse_date(value.strip())
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        parsed = None
    if parsed is None:
        raise ValueError(f"A day is written YYYY-MM-DD, e.g. 2026-03-02; got {value!r}")
    return parsed

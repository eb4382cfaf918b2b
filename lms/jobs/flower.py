"""Flower's rules of ours: no dashboard without credentials outside DEBUG, loopback by default.

They hold however Flower is started, from any working directory: lms/celery.py connects
`flower_guard` to Celery's import_modules signal, which Flower sends when it builds its
application (`Flower.__init__` calls `app.loader.import_default_modules()`), after it has read
every option (FLOWER_* environment variables, a flowerconfig.py if one is found, the command
line) and before it opens a socket. A file found by path (flowerconfig.py) would not be read
when Flower starts elsewhere. The lms.W005 system check reports missing credentials too.
"""

import os


def flower_credentials_problem(credentials: str | list[str] | tuple[str, ...] | None) -> str | None:
    """Why these basic-auth credentials cannot protect Flower, or None when they can.

    `credentials` is FLOWER_BASIC_AUTH as written ("user:password,user2:password2") or as
    Flower parsed it (a list of "user:password").
    """
    if isinstance(credentials, str):
        credentials = credentials.split(",")
    pairs = [pair.strip() for pair in credentials or () if pair and pair.strip()]
    if not pairs:
        return "FLOWER_BASIC_AUTH is not set"
    for pair in pairs:
        user, _, password = pair.partition(":")
        if not user or not password:
            return "FLOWER_BASIC_AUTH must be user:password pairs, separated by commas"
    return None


def flower_refuse_unprotected(*, credentials, debug: bool) -> None:
    """Stop Flower's start-up (SystemExit) when it would serve without credentials outside DEBUG."""
    problem = flower_credentials_problem(credentials)
    if problem and not debug:
        raise SystemExit(
            f"Refusing to start Flower: {problem}. Flower shows every task's arguments and can revoke "
            "tasks and shut workers down, so outside DEBUG it needs credentials: set "
            "FLOWER_BASIC_AUTH=user:long-random-password (or pass --basic-auth)."
        )


# Where Flower listens when neither FLOWER_ADDRESS nor --address says (Flower's own default,
# "", is every interface).
FLOWER_DEFAULT_ADDRESS = "127.0.0.1"


def _starting_flower() -> bool:
    """True inside `celery ... flower`: the click command being run is Flower's."""
    import click

    context = click.get_current_context(silent=True)
    return context is not None and context.command.name == "flower"


def flower_guard(sender=None, **kwargs) -> None:
    """Celery import_modules receiver: in a starting Flower, refuse to go on unprotected (and
    listen on loopback unless told otherwise); in any other process, nothing."""
    if not _starting_flower():
        return
    from django.conf import settings
    from tornado.options import options

    flower_refuse_unprotected(credentials=options.basic_auth, debug=settings.DEBUG)
    if not options.address and not os.environ.get("FLOWER_ADDRESS"):
        options.address = FLOWER_DEFAULT_ADDRESS

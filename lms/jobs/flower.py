"""Flower's one rule of ours: no dashboard without credentials outside DEBUG.

Used by flowerconfig.py (which Flower executes at start-up) and by the lms.W005 system check.
"""


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

"""Telling staff that something needs a human."""

import logging

from django.core.mail import mail_admins

logger = logging.getLogger(__name__)


def notify_admin(*, subject: str, message: str) -> None:
    """Log an error and e-mail ADMINS. Never raises: alerting must not break the caller."""
    logger.error("%s: %s", subject, message.splitlines()[0] if message else "")
    try:
        mail_admins(subject, message, fail_silently=True)
    except Exception:
        logger.exception("Could not e-mail admins about: %s", subject)

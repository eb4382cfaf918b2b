"""What every HTML page shares: one page for outcomes that are only a message.

Pages extend lms/templates/lms/base.html (the look of the certificate verification page).
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def message_page(
    request: HttpRequest,
    *,
    status: int,
    title: str,
    message: str,
    badge: str,
    tone: str = "done",
    hint: str = "",
    link: tuple[str, str] | None = None,
) -> HttpResponse:
    """A page that only says something: the outcome of a form ("verified", "changed"), or why a
    link does not work (rendered with its 4xx status). `tone` is "done", "error" or "revoked";
    `link` is (address, text) of where to go instead."""
    context = {"title": title, "message": message, "badge": badge, "tone": tone, "hint": hint, "link": link}
    return render(request, "lms/message.html", context, status=status)

"""The unsubscribe page every announcement e-mail links to (and its RFC 8058 one-click POST).

GET changes nothing (mail scanners prefetch links): it shows a button. POST, from that button
or from a mailbox provider's one-click unsubscribe (body `List-Unsubscribe=One-Click`, no
cookies, no CSRF token, no login), opts the account out of course announcements. The signed
token is the credential; a tampered one is a 400 page.
"""

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notifications.announcements.preferences import preference_unsubscribe, unsubscribe_user


@csrf_exempt  # RFC 8058: the provider's POST carries no CSRF token; the signed token authorises it
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request, token: str):
    if request.method == "POST":
        user = preference_unsubscribe(token=token)
        state = "done" if user else "invalid"
    else:
        user = unsubscribe_user(token=token)
        state = "confirm" if user else "invalid"
    context = {"state": state, "email": user.email if user else ""}
    return render(request, "notifications/unsubscribe.html", context, status=400 if state == "invalid" else 200)

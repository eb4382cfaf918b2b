"""The account pages e-mail links open: confirm an address, choose a new password.

Thin, like the API views: both call lms.users.services, so the page and the API are one piece
of logic. Nothing changes on a GET (mail scanners prefetch links): the GET shows what the link
is for and a button, the POST (with Django's CSRF token) does it. A bad, expired or used link
answers an error page with status 400, never a 500.
"""

from django import forms
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from lms.errors import InvalidInput
from lms.pages import message_page
from lms.users import services

# Longer query values are not tokens we issued; refusing them early keeps the work bounded.
TOKEN_MAX_CHARS = 1000


def link_error_page(request, error: InvalidInput, *, hint: str):
    return message_page(
        request, status=400, title="This link does not work", message=error.message, badge="Link not valid",
        tone="error", hint=hint,
    )  # fmt: skip


def _param(request, name: str) -> str:
    value = (request.POST.get(name) if request.method == "POST" else None) or request.GET.get(name, "")
    if len(value) > TOKEN_MAX_CHARS or "\x00" in value:
        return ""
    return value


VERIFY_HINT = "A verification link expires after a few days, and stops working if the address changes."


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def verify_email_page(request):
    token = _param(request, "token")
    try:
        user = services.email_verification_user(token=token)
        if request.method == "POST":
            user = services.user_verify_email(token=token)
    except InvalidInput as error:
        return link_error_page(request, error, hint=VERIFY_HINT)
    if request.method == "POST" or user.is_verified:
        return message_page(
            request, status=200, title="Your address is confirmed", badge="Verified",
            message=f"{user.email} is confirmed. You can close this page or browse the courses.",
        )  # fmt: skip
    return render(request, "users/verify_email.html", {"email": user.email, "token": token})


class NewPasswordForm(forms.Form):
    """The new password twice; the password rules themselves are the service's (Django's validators)."""

    new_password1 = forms.CharField(
        label="New password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label="New password again", strip=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("new_password1"), cleaned.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", "The two passwords do not match.")
        return cleaned


RESET_HINT = "A reset link works once and expires after an hour. Ask for a new reset e-mail where you sign in."


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def reset_password_page(request):
    uid, token = _param(request, "uid"), _param(request, "token")
    try:
        user = services.password_reset_user(uid=uid, token=token)
    except InvalidInput as error:
        return link_error_page(request, error, hint=RESET_HINT)

    form = NewPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_reset_confirm(uid=uid, token=token, new_password=form.cleaned_data["new_password1"])
        except InvalidInput as error:
            if error.field != "new_password":  # the link was used meanwhile
                return link_error_page(request, error, hint=RESET_HINT)
            form.add_error("new_password1", error.message)
        else:
            return message_page(
                request, status=200, title="Your password was changed", badge="Changed",
                message="Sign in with your new password. Every device signed in with the old one was signed out.",
            )  # fmt: skip
    status = 400 if form.errors else 200
    context = {"form": form, "email": user.email, "uid": uid, "token": token}
    return render(request, "users/reset_password.html", context, status=status)

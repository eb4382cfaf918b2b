"""The pages e-mail links open: /verify-email, /reset-password and the home page /."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from lms.users import services
from lms.users.models import User
from tests.factories import DEFAULT_PASSWORD, CourseFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "a-new-Passw0rd-for-2027"


def reset_params(user) -> dict:
    link = services.password_reset_link(user=user)
    query = link.split("?", 1)[1]
    return dict(part.split("=", 1) for part in query.split("&"))


# --- /verify-email --------------------------------------------------------------------------


def test_verify_email_get_shows_a_button_and_changes_nothing(client):
    # given an unverified learner and the link of their verification e-mail
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    # when the link is opened (as a mail scanner would, too)
    response = client.get("/verify-email", {"token": token})

    # then the page asks to confirm with a POST form, and the account is still unverified
    assert response.status_code == 200
    html = response.content.decode()
    assert user.email in html and 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert not User.objects.get(pk=user.pk).is_verified


def test_verify_email_post_verifies_the_address():
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)
    browser = Client(enforce_csrf_checks=True)
    csrf = browser.get("/verify-email", {"token": token}).cookies["csrftoken"].value

    response = browser.post("/verify-email", {"token": token, "csrfmiddlewaretoken": csrf})

    assert response.status_code == 200
    assert "Your address is confirmed" in response.content.decode()
    assert User.objects.get(pk=user.pk).is_verified


def test_verify_email_post_without_csrf_token_is_refused():
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    response = Client(enforce_csrf_checks=True).post("/verify-email", {"token": token})

    assert response.status_code == 403
    assert "This form could not be sent" in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_verified


@pytest.mark.parametrize("token", ["", "garbage", "a" * 5000, "x\x00y", "eyJ1aWQiOiIxIn0:1abc:forged"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_verify_email_bad_token_is_a_400_page(client, token, method):
    response = getattr(client, method)("/verify-email", {"token": token})

    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()


def test_verify_email_expired_token_is_a_400_page(client, settings):
    user = UserFactory(is_verified=False)
    with time_machine.travel(timezone.now() - timedelta(seconds=settings.EMAIL_VERIFICATION_MAX_AGE + 60)):
        token = services.email_verification_token_make(user=user)

    response = client.post("/verify-email", {"token": token})

    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_verified


def test_verify_email_of_a_verified_address_says_so(client):
    user = UserFactory(is_verified=True)

    response = client.get("/verify-email", {"token": services.email_verification_token_make(user=user)})

    assert response.status_code == 200
    assert "Your address is confirmed" in response.content.decode()


# --- /reset-password ------------------------------------------------------------------------


def test_reset_password_get_shows_the_form_and_changes_nothing(client):
    user = UserFactory()
    before = User.objects.get(pk=user.pk).password

    response = client.get("/reset-password", reset_params(user))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="new_password1"' in html and 'name="new_password2"' in html and "csrfmiddlewaretoken" in html
    assert User.objects.get(pk=user.pk).password == before


def test_reset_password_weak_password_is_refused_inline(client):
    user = UserFactory()
    params = reset_params(user)

    response = client.post("/reset-password", {**params, "new_password1": "12345678", "new_password2": "12345678"})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="errorlist"' in html and "too common" in html and "entirely numeric" in html
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


def test_reset_password_mismatch_is_refused_inline(client):
    user = UserFactory()

    response = client.post(
        "/reset-password", {**reset_params(user), "new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD + "x"}
    )

    assert response.status_code == 400
    assert "do not match" in response.content.decode()
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


def test_reset_password_good_password_changes_it_once():
    # given a learner's reset link, opened in a browser that keeps its CSRF cookie
    user = UserFactory()
    params = reset_params(user)
    browser = Client(enforce_csrf_checks=True)
    csrf = browser.get("/reset-password", params).cookies["csrftoken"].value
    form = {**params, "new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD, "csrfmiddlewaretoken": csrf}

    # when the form is sent with a good password
    response = browser.post("/reset-password", form)

    # then the password is changed, the old one no longer works
    assert response.status_code == 200
    assert "Your password was changed" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD) and not user.check_password(DEFAULT_PASSWORD)
    # and the link is spent: opening or sending it again is a 400 page
    assert browser.get("/reset-password", params).status_code == 400
    assert browser.post("/reset-password", form).status_code == 400


@pytest.mark.parametrize(
    "params", [{}, {"uid": "x", "token": "y"}, {"uid": "\x00", "token": "\x00"}, {"uid": "A" * 3000, "token": "b"}]
)
def test_reset_password_bad_link_is_a_400_page(client, params):
    for response in (client.get("/reset-password", params), client.post("/reset-password", params)):
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()


# --- / --------------------------------------------------------------------------------------


def test_home_page_lists_published_courses_only(client):
    CourseFactory(title="Reliable Background Jobs")
    CourseFactory(title="Secret Draft", is_published=False)

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Reliable Background Jobs" in html and "Secret Draft" not in html
    assert 'href="/api/docs/"' in html


@pytest.mark.parametrize("query", [{"page": "abc"}, {"page": "99999"}, {"q": "\x00" * 10}, {"q": "x" * 5000}])
def test_home_page_takes_any_query(client, query):
    CourseFactory(title="Reliable Background Jobs")

    assert client.get("/", query).status_code == 200


def test_home_page_search_narrows_the_catalogue(client):
    CourseFactory(title="Reliable Background Jobs")
    CourseFactory(title="Pottery")

    html = client.get("/", {"q": "pottery"}).content.decode()

    assert "Pottery" in html and "Reliable Background Jobs" not in html


def test_pages_answer_head_as_link_checkers_send_it_and_refuse_other_methods(client):
    user = UserFactory(is_verified=False)
    token = services.email_verification_token_make(user=user)

    assert client.head("/verify-email", {"token": token}).status_code == 200
    assert client.head("/reset-password", reset_params(user)).status_code == 200
    assert client.head("/").status_code == 200
    assert not User.objects.get(pk=user.pk).is_verified
    assert client.post("/").status_code == 405
    assert client.put("/verify-email").status_code == 405


def test_an_unknown_page_is_the_sites_404_page_and_an_unknown_api_path_stays_json(client):
    page = client.get("/no-such-page/")
    api = client.get("/api/no-such-endpoint/")

    assert page.status_code == 404 and "There is no page here" in page.content.decode()
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}

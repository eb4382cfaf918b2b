"""Every link of every e-mail the system sends, followed from the real e-mail.

Mail goes through Django's SMTP backend to a real SMTP server (aiosmtpd, `smtp_server`); each
link is taken from the message the server received (plain-text and HTML parts alike) and
opened. Jobs run inline after each commit, so the test database is transactional.
"""

import html
import re

import pytest
from django.test import Client
from django.utils import timezone

from certificates.services import certificate_revoke
from courses.models import Lesson
from enrollments import reports
from lms.users.models import User
from tests.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory, course_with_lessons
from tests.smtp import text_of

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-9"
URL = re.compile(r"https?://[^\s\"'<>]+")


def links_of(message) -> list[str]:
    """The links of both parts, in order, each once; the HTML part's hrefs must be the same set."""
    text = text_of(message)
    html_part = message.get_body(preferencelist=("html",)).get_content()
    in_text = [link.rstrip(".,)") for link in URL.findall(text)]
    in_html = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', html_part)]
    assert set(in_text) <= set(in_html), (in_text, in_html)
    return list(dict.fromkeys(in_html + in_text))


def path_of(link: str, settings) -> str:
    assert link.startswith(settings.FRONTEND_URL + "/"), link
    return link.removeprefix(settings.FRONTEND_URL)


def the_message(smtp_server, address: str, subject_start: str):
    messages = [m for m in smtp_server.messages_to(address) if m["Subject"].startswith(subject_start)]
    assert len(messages) == 1, [m["Subject"] for m in smtp_server.messages_to(address)]
    return messages[0]


def open_link(client: Client, link: str, settings):
    response = client.get(path_of(link, settings))
    assert response.status_code == 200, (link, response.status_code)
    return response


def test_welcome_and_verification_email_links_work(smtp_server, settings):
    # given a learner who registered through the API
    client = Client()
    address = "ada@example.com"
    response = client.post(
        "/api/auth/register/",
        {"email": address, "password": PASSWORD, "full_name": "Ada Lovelace"},
        content_type="application/json",
    )
    assert response.status_code == 201
    smtp_server.wait_for(2)

    # when every link of the welcome e-mail is opened, then each is the home page with the catalogue
    welcome = the_message(smtp_server, address, "Welcome")
    welcome_links = links_of(welcome)
    assert set(welcome_links) == {settings.FRONTEND_URL}
    home = client.get("/")
    assert home.status_code == 200 and "Courses" in home.content.decode()

    # when the verification link is opened, then it shows a button and verifies nothing yet
    verification = the_message(smtp_server, address, "Confirm")
    [verify_link] = [link for link in links_of(verification) if "/verify-email?" in link]
    page = open_link(client, verify_link, settings)
    assert "Confirm my address" in page.content.decode()
    assert not User.objects.get(email=address).is_verified
    # and pressing it (the form posts the token back) verifies the address
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    done = client.post("/verify-email", {"token": html.unescape(token)})
    assert done.status_code == 200 and "Your address is confirmed" in done.content.decode()
    assert User.objects.get(email=address).is_verified
    # every other link in it is the home page
    assert {link for link in links_of(verification) if link != verify_link} == {settings.FRONTEND_URL}


def test_password_reset_email_link_changes_the_password_once(smtp_server, settings):
    # given a learner who asked for a reset through the API
    user = UserFactory(email="grace@example.com")
    client = Client()
    assert (
        client.post("/api/auth/password-reset/", {"email": user.email}, content_type="application/json").status_code
        == 202
    )
    message = the_message(smtp_server, user.email, "Reset")
    [reset_link] = [link for link in links_of(message) if "/reset-password?" in link]

    # when the link is opened and the form sent with a new password
    page = open_link(client, reset_link, settings)
    assert 'name="new_password1"' in page.content.decode()
    query = dict(part.split("=", 1) for part in reset_link.split("?", 1)[1].split("&"))
    new_password = "a-brand-new-Passw0rd-2027"
    done = client.post("/reset-password", {**query, "new_password1": new_password, "new_password2": new_password})

    # then the password is changed and the link is spent
    assert done.status_code == 200 and "Your password was changed" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(new_password) and not user.check_password(DEFAULT_PASSWORD)
    assert client.get(path_of(reset_link, settings)).status_code == 400


def test_enrollment_certificate_and_revocation_email_links_work(smtp_server, settings):
    # given a learner who enrolls in a two-lesson course through the API and completes it
    learner = UserFactory(email="alan@example.com", full_name="Alan Turing")
    course = course_with_lessons(2, title="Reliable Background Jobs")
    api = Client()
    access = api.post(
        "/api/auth/token/", {"email": learner.email, "password": DEFAULT_PASSWORD}, content_type="application/json"
    ).json()["access"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access}"}
    enrollment = api.post(f"/api/courses/{course.pk}/enroll/", **auth).json()
    for lesson in Lesson.objects.filter(course=course):
        response = api.post(f"/api/enrollments/{enrollment['id']}/lessons/{lesson.pk}/complete/", **auth)
        assert response.status_code == 200
    smtp_server.wait_for(2)
    anonymous = Client()

    # then the enrollment e-mail's links open the home page, listing the course
    enrolled = the_message(smtp_server, learner.email, "You're enrolled")
    assert set(links_of(enrolled)) == {settings.FRONTEND_URL}
    assert "Reliable Background Jobs" in anonymous.get("/").content.decode()

    # and the certificate e-mail's links open the PDF (no sign-in) and the verification page
    ready = the_message(smtp_server, learner.email, "Your certificate")
    links = links_of(ready)
    [download] = [link for link in links if "/certificates/download/" in link]
    [verify] = [link for link in links if "/certificates/verify/" in link]
    assert set(links) == {download, verify, settings.FRONTEND_URL}
    pdf = open_link(anonymous, download, settings)
    assert pdf["Content-Type"] == "application/pdf" and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert "Valid certificate" in open_link(anonymous, verify, settings).content.decode()

    # when staff revoke it, the revocation e-mail's verification link shows it revoked
    certificate = learner.enrollments.get().certificate
    certificate_revoke(certificate_id=certificate.pk, reason="Issued in error")
    revoked = the_message(smtp_server, learner.email, "Your certificate for Reliable Background Jobs was revoked")
    revoked_links = links_of(revoked)
    assert set(revoked_links) == {verify, settings.FRONTEND_URL}
    assert "Revoked on" in open_link(anonymous, verify, settings).content.decode()
    # and the PDF link of the first e-mail no longer hands out the revoked certificate
    assert anonymous.get(path_of(download, settings)).status_code == 410


def test_weekly_report_email_link_opens_the_pdf_for_staff(smtp_server, settings):
    # given a staff member and last week's report, e-mailed
    staff = StaffFactory(email="ops@example.com")
    week_start = reports.previous_week_start(timezone.now())
    reports.weekly_report_generate(week_start=week_start)
    message = the_message(smtp_server, staff.email, "Weekly report")
    [admin_link] = [link for link in links_of(message) if "/admin/" in link]
    assert set(links_of(message)) == {admin_link, settings.FRONTEND_URL}

    # when someone not signed in opens it, then the admin asks them to sign in first
    client = Client()
    response = client.get(path_of(admin_link, settings))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")

    # and once signed in as staff through the admin's sign-in form, the same link is the PDF
    signed_in = client.post(response["Location"], {"username": staff.email, "password": DEFAULT_PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == path_of(admin_link, settings)
    response = client.get(path_of(admin_link, settings))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"

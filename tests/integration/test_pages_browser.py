"""A person opens the e-mailed links in a real browser (headless Chromium).

The e-mails go through Django's SMTP backend to a real SMTP server (aiosmtpd); the link is taken
from the message it received and opened in Chromium against the live server. Screenshots of
every step are kept in var/test-artefacts/pages/ (printed by each test) for a person to look at.
"""

import re
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from lms.users import services
from lms.users.models import User
from tests.factories import DEFAULT_PASSWORD, CourseFactory, UserFactory
from tests.smtp import text_of

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "pages"


@pytest.fixture
def screenshot(browser, request):
    folder = ARTEFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    print(f"screenshots: {folder}")

    def take(step: str) -> Path:
        path = folder / f"{step}.png"
        assert browser.save_screenshot(str(path)), path
        return path

    return take


@pytest.fixture
def mail_links_to_live_server(live_server, smtp_server, settings):
    settings.FRONTEND_URL = live_server.url
    return smtp_server


def link_in(message, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}\S*", text_of(message))
    assert match, text_of(message)
    return match.group(0)


def test_a_learner_confirms_their_address_in_a_browser(
    transactional_db, mail_links_to_live_server, browser, screenshot
):
    from selenium.webdriver.common.by import By

    # given a learner who just registered and received the verification e-mail
    CourseFactory(title="Reliable Background Jobs")
    user = services.user_register(email="ada@example.com", password="correct-horse-battery-9", full_name="Ada")
    messages = mail_links_to_live_server.wait_for(2)
    verification = next(m for m in messages if m["Subject"].startswith("Confirm"))
    link = link_in(verification, "/verify-email?token=")

    # when they open the link, the page asks them to confirm, and nothing has changed yet
    browser.get(link)
    screenshot("1-confirm-page")
    assert "Confirm that ada@example.com is your address" in browser.find_element(By.TAG_NAME, "main").text
    assert not User.objects.get(pk=user.pk).is_verified

    # when they press the button
    browser.find_element(By.ID, "confirm").click()

    # then the address is confirmed
    assert "Your address is confirmed" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot("2-verified")
    assert User.objects.get(pk=user.pk).is_verified
    # and the home page it links to lists the catalogue
    browser.find_element(By.LINK_TEXT, "Go to the course catalogue").click()
    assert "Reliable Background Jobs" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("3-home")


def test_a_learner_resets_their_password_in_a_browser(transactional_db, mail_links_to_live_server, browser, screenshot):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    # given a learner who asked for a password reset and received its e-mail
    user = UserFactory(email="grace@example.com", full_name="Grace Hopper")
    services.password_reset_request(email=user.email)
    [message] = mail_links_to_live_server.wait_for(2)[1:]  # after the welcome e-mail
    assert message["Subject"] == "Reset your LMS password"
    link = link_in(message, "/reset-password?uid=")

    def submit(first: str, second: str) -> None:
        for field, value in (("id_new_password1", first), ("id_new_password2", second)):
            element = browser.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        button = browser.find_element(By.ID, "change")
        button.click()
        WebDriverWait(browser, 10).until(staleness_of(button))  # the answer page has replaced the form

    # when they open the link and choose a weak password
    browser.get(link)
    screenshot("1-form")
    submit("12345678", "12345678")

    # then the form says why, inline, and the password is unchanged
    errors = browser.find_element(By.ID, "new_password1-errors").text
    assert "too common" in errors and "entirely numeric" in errors
    screenshot("2-weak-password-refused")
    assert (
        authenticate(RequestFactory().post("/api/auth/token/"), email=user.email, password=DEFAULT_PASSWORD) is not None
    )

    # when they choose a good one
    new_password = "a-brand-new-Passw0rd-2027"
    submit(new_password, new_password)

    # then it is changed: the new password works, the old one no longer does
    assert "Your password was changed" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot("3-changed")
    assert authenticate(RequestFactory().post("/api/auth/token/"), email=user.email, password=new_password) is not None
    assert authenticate(RequestFactory().post("/api/auth/token/"), email=user.email, password=DEFAULT_PASSWORD) is None

    # and the link, opened again, is spent
    browser.get(link)
    assert "This link does not work" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot("4-link-used")


def test_a_learner_opens_the_certificate_emails_links_in_a_browser(
    transactional_db, mail_links_to_live_server, browser, screenshot
):
    from selenium.webdriver.common.by import By

    from certificates.services import certificate_issue, certificate_revoke
    from tests.certificates.helpers import completed_enrollment

    # given a learner whose certificate was issued and e-mailed
    enrollment = completed_enrollment(learner=UserFactory(email="alan@example.com", full_name="Alan Turing"))
    certificate = certificate_issue(enrollment_id=enrollment.pk).certificate
    ready = next(m for m in mail_links_to_live_server.wait_for(2) if m["Subject"].startswith("Your certificate"))
    verify_link = link_in(ready, "/certificates/verify/")

    # when they open its verification link, the page says it is valid, in the site's style
    browser.get(verify_link)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "Valid certificate" in main and "Alan Turing" in main and certificate.certificate_number in main
    screenshot("1-verification-page")

    # when staff revoke it, the e-mailed PDF link says so instead of handing out the PDF
    certificate_revoke(certificate_id=certificate.pk, reason="Issued in error")
    browser.get(link_in(ready, "/certificates/download/"))
    assert "This certificate was revoked" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot("2-download-link-of-a-revoked-certificate")
    browser.get(verify_link)
    assert "Revoked on" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("3-verification-page-revoked")


def test_a_learner_unsubscribes_from_an_announcement_email_in_a_browser(
    transactional_db, mail_links_to_live_server, browser, screenshot, django_capture_on_commit_callbacks
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    from enrollments.models import Enrollment
    from notifications.announcements import services as announcements
    from notifications.announcements.preferences import preference_get

    # given a learner of a course who received an announcement e-mail
    course = CourseFactory(title="Reliable Background Jobs")
    learner = UserFactory(email="grace@example.com")
    Enrollment.objects.create(student=learner, course=course)
    with django_capture_on_commit_callbacks(execute=True):
        announcements.announcement_create(course=course, subject="Exam moved", body="Friday, 10:00.")
    [message] = [m for m in mail_links_to_live_server.wait_for(1) if m["Subject"] == "Exam moved"]
    link = link_in(message, "/unsubscribe/")
    assert message["List-Unsubscribe"].strip() == f"<{link}>"

    # when they open the link, the page asks first, and nothing has changed yet
    browser.get(link)
    screenshot("1-confirm-page")
    assert "Stop receiving course announcements at grace@example.com?" in browser.find_element(By.TAG_NAME, "main").text
    assert preference_get(user=learner).course_announcements is True

    # when they press the button
    button = browser.find_element(By.TAG_NAME, "button")
    button.click()
    WebDriverWait(browser, 10).until(staleness_of(button))  # the answer page has replaced the form

    # then they are opted out, and the page says so
    assert "Unsubscribed" in browser.find_element(By.TAG_NAME, "main").text
    screenshot("2-unsubscribed")
    assert preference_get(user=learner).course_announcements is False

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from certificates.api import CertificateVerifyView, CertificateViewSet
from certificates.views import download_page, verify_page
from courses.api import CourseViewSet
from courses.views import home_page
from enrollments.api import EnrollmentViewSet
from lms.admin_jobs import jobs_page
from lms.api import HealthView, TaskRetryView, TaskStatusView
from lms.users.views import reset_password_page, verify_email_page
from notifications.announcements.api import AnnouncementViewSet, CourseAnnouncementsView, PreferencesView
from notifications.announcements.views import unsubscribe_page
from notifications.api import NotificationViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("courses", CourseViewSet, basename="course")
router.register("enrollments", EnrollmentViewSet, basename="enrollment")
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("announcements", AnnouncementViewSet, basename="announcement")

api_patterns = [
    path("", include("lms.users.urls")),
    path(
        "certificates/verify/<slug:certificate_number>/",
        CertificateVerifyView.as_view(),
        name="certificate-verify",
    ),
    path("courses/<uuid:course_id>/announcements/", CourseAnnouncementsView.as_view(), name="course-announcements"),
    path("me/preferences/", PreferencesView.as_view(), name="me-preferences"),
    path("", include(router.urls)),
    path("tasks/<str:task_id>/", TaskStatusView.as_view(), name="task-status"),
    path("tasks/<str:task_id>/retry/", TaskRetryView.as_view(), name="task-retry"),
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    # The operator's queues page, inside the admin (staff only); before the admin's own URLs.
    path("admin/jobs/", admin.site.admin_view(jobs_page), name="admin-jobs"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # The page a scanned certificate QR code opens (FRONTEND_URL defaults to this app).
    path("certificates/verify/<slug:certificate_number>/", verify_page, name="certificate-verify-page"),
    # The pages e-mail links open (API.md, "Pages a person opens"); they call the same services.
    path("", home_page, name="home"),
    path("verify-email", verify_email_page, name="verify-email-page"),
    path("reset-password", reset_password_page, name="reset-password-page"),
    path("certificates/download/<str:token>/", download_page, name="certificate-download-page"),
    # The link in every announcement e-mail and its List-Unsubscribe header.
    path("unsubscribe/<str:token>/", unsubscribe_page, name="unsubscribe"),
]

handler400 = "lms.errors.bad_request"
handler404 = "lms.errors.not_found"
handler500 = "lms.errors.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

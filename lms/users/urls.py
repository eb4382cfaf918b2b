from django.urls import path

from lms.users import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", api.TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh/", api.TokenRefreshRotateView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", api.LogoutView.as_view(), name="auth-logout"),
    path("auth/verify-email/", api.VerifyEmailView.as_view(), name="auth-verify-email"),
    path("auth/password-reset/", api.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password-reset/confirm/",
        api.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("me/", api.MeView.as_view(), name="me"),
]

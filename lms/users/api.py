"""Accounts API: thin views over lms.users.services (see shared API contract, "Accounts")."""

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from lms.errors import InvalidInput
from lms.fields import StrictCharField
from lms.throttling import ClientAddressRateThrottle
from lms.users import services
from lms.users.models import User


class AuthRateThrottle(ClientAddressRateThrottle):
    """Per client address, whether or not the caller is signed in (rate: AUTH_THROTTLE_RATE)."""

    scope = "auth"


class PublicAuthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]


# --- Serializers ----------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "is_verified"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "is_verified", "date_joined"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(max_length=128, write_only=True, trim_whitespace=False)
    full_name = StrictCharField(max_length=200)


class TokenSerializer(serializers.Serializer):
    token = StrictCharField(max_length=1000)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=100)
    token = StrictCharField(max_length=200)
    new_password = StrictCharField(max_length=128, write_only=True, trim_whitespace=False)


class SingleUseTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh with rotation, made single-use under concurrency.

    simplejwt checks the blacklist, then blacklists the token, with nothing in between: two
    concurrent refreshes of one token both pass the check and both get a new chain. Here the
    token's OutstandingToken row is locked first, so a second refresh of the same token waits
    for the first to commit its blacklist entry and then fails the blacklist check (401).
    """

    def validate(self, attrs):
        token = self.token_class(attrs["refresh"])  # signature, expiry and blacklist, unlocked
        with transaction.atomic():
            locked = (
                OutstandingToken.objects.select_for_update()
                .order_by()  # its default ordering joins the user table, which FOR UPDATE refuses
                .filter(jti=token.payload[jwt_settings.JTI_CLAIM])
                .values_list("pk", flat=True)
                .first()
            )
            if locked is None:  # every refresh token we issue is recorded: this one was not ours
                raise TokenError("Token is invalid")
            return super().validate(attrs)  # checks the blacklist again, now under the lock


class LogoutSerializer(serializers.Serializer):
    refresh = StrictCharField(max_length=2000)


# --- Views ----------------------------------------------------------------------------------


class RegisterView(PublicAuthView):
    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    throttle_classes = [AuthRateThrottle]


class TokenRefreshRotateView(TokenRefreshView):
    serializer_class = SingleUseTokenRefreshSerializer
    throttle_classes = [AuthRateThrottle]


class LogoutView(PublicAuthView):
    @extend_schema(request=LogoutSerializer, responses={205: None})
    def post(self, request):
        serializer = TokenBlacklistSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidInput("This refresh token is invalid, expired or already revoked.", field="refresh") from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class VerifyEmailView(PublicAuthView):
    @extend_schema(
        request=TokenSerializer,
        responses={200: inline_serializer("VerifyEmailResult", {"is_verified": serializers.BooleanField()})},
    )
    def post(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_verify_email(token=serializer.validated_data["token"])
        return Response({"is_verified": user.is_verified})


class PasswordResetView(PublicAuthView):
    @extend_schema(
        request=PasswordResetSerializer,
        responses={202: inline_serializer("PasswordResetAccepted", {"detail": serializers.CharField()})},
    )
    def post(self, request):
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response(
            {"detail": "If an account exists for this address, a reset link is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(PublicAuthView):
    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={200: inline_serializer("PasswordResetDone", {"detail": serializers.CharField()})},
    )
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response({"detail": "Your password has been changed."})


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)

"""The caller's own notifications (see shared API contract, "Notifications")."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from lms.routing import UUID_PATTERN
from notifications.models import Notification
from notifications.services import notification_mark_read


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "created_at", "read_at"]
        read_only_fields = fields


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    queryset = Notification.objects.all()  # narrowed to the caller's own rows below
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        return super().get_queryset().filter(user=self.request.user).order_by("-created_at")

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = notification_mark_read(notification=self.get_object())
        return Response(self.get_serializer(notification).data)

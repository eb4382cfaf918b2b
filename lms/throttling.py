"""Throttles that read their rate from the current settings on every request."""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle


class SettingsRateMixin:
    """DRF copies DEFAULT_THROTTLE_RATES onto its throttle classes once, at import, so a rate
    changed later (a settings override, a reload) would silently not apply. Read it per request:
    the rate in force is always the one REST_FRAMEWORK (i.e. the environment) says."""

    @property
    def THROTTLE_RATES(self):  # the name DRF's SimpleRateThrottle reads
        return api_settings.DEFAULT_THROTTLE_RATES


class ClientAddressRateThrottle(SettingsRateMixin, SimpleRateThrottle):
    """Per client address, whether or not the caller is signed in."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AnonymousRateThrottle(SettingsRateMixin, AnonRateThrottle):
    """Per client address, for anonymous callers only."""

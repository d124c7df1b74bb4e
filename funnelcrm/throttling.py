"""The API's default throttles (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]): per user, and per
client IP for anonymous callers. A refused request answers 429 with Retry-After (seconds).

DRF's own classes read their rates once, at import; these read them per request, so a settings
change (an override in tests, a reload) applies at once."""

from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    def get_rate(self):
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Anonymous callers, counted per client IP (DRF's get_ident: REMOTE_ADDR, or the
    X-Forwarded-For entry of the nearest of NUM_PROXIES proxies)."""


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Signed-in callers, counted per user whatever their IP or token."""

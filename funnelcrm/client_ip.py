"""The client's IP address, by one rule for every door that counts per address.

Behind `API_NUM_PROXIES` reverse proxies (REST_FRAMEWORK["NUM_PROXIES"]), it is the address the
nearest proxy saw, read from X-Forwarded-For; with none, REMOTE_ADDR. django-axes (login lockouts,
through AXES_CLIENT_IP_CALLABLE) and DRF's anonymous throttles then agree on who a client is. A
client cannot escape either by sending its own X-Forwarded-For: entries it adds sit left of the
ones the trusted proxies append, and only those are read.
"""

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    """DRF's own rule (BaseThrottle.get_ident), for a Django or DRF request."""
    return BaseThrottle().get_ident(request) or None

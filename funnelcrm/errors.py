"""Django's 404 for a URL no route matches (e.g. /api/v1/leads/abc/): JSON under /api/, like DRF's
own 404s, so that API clients never get an HTML page; the usual page elsewhere."""

from django.http import JsonResponse
from django.views.defaults import page_not_found


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)

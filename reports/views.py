from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from .models import WorkerHeartbeat


def healthz(request):
    """Liveness for load balancers and people: the database answers; when did a worker last run?"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    heartbeat = WorkerHeartbeat.objects.filter(name="worker").first()
    seen = heartbeat.last_seen_at if heartbeat else None
    return JsonResponse(
        {
            "database": "ok",
            "worker_last_seen_at": seen.isoformat() if seen else None,
            "worker_seconds_ago": round((timezone.now() - seen).total_seconds()) if seen else None,
        }
    )

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import WorkerHeartbeat


@transaction.atomic
def worker_heartbeat_record(*, hostname: str = "", name: str = "worker") -> WorkerHeartbeat:
    """Upsert the heartbeat row. Safe to run twice or concurrently."""
    now = timezone.now()
    heartbeat, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
        name=name, defaults={"last_seen_at": now, "hostname": hostname, "beats": 1}
    )
    if not created:
        WorkerHeartbeat.objects.filter(pk=heartbeat.pk).update(
            last_seen_at=now, hostname=hostname, beats=F("beats") + 1
        )
        heartbeat.refresh_from_db()
    return heartbeat

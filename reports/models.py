"""Reports' own tables. The KPI issue adds definitions and snapshots; the foundation keeps a
heartbeat so that a person can see the background worker and its schedule are alive."""

from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a periodic task: when beat last got a task through the broker to a worker."""

    name = models.CharField(max_length=50, unique=True, default="worker")
    last_seen_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} · {self.last_seen_at:%Y-%m-%d %H:%M:%S}"

from celery import shared_task

from .services import worker_heartbeat_record


@shared_task(bind=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def worker_heartbeat_task(self, name: str = "worker") -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "", name=name)

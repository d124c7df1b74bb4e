"""Beat keeps the KPI snapshots fresh: recent periods every night, and every minute whatever days
were marked dirty (which also catches a recompute lost on the way to a worker). Admins can change
both schedules in the admin (django-celery-beat's periodic tasks)."""

from django.db import migrations

NIGHTLY = "Recompute recent KPI snapshots"
DIRTY = "Recompute dirty KPI days"


def forward(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY,
        defaults={
            "task": "reports.tasks.kpis_recompute_recent_task", "crontab": nightly,
            "kwargs": '{"days": 35}',
        },
    )
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=DIRTY,
        defaults={"task": "reports.tasks.kpis_recompute_dirty_task", "interval": every_minute},
    )


def backward(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[NIGHTLY, DIRTY]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_kpi_snapshots"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forward, backward)]

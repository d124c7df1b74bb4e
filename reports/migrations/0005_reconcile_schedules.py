"""Beat's reconcile jobs (README, "Celery tasks"), as periodic tasks an admin can edit:

- "Reconcile lost KPI recomputes", every minute: recomputes the dirty days whose recompute was
  lost. It replaces "Recompute dirty KPI days" (0004), which recomputed every dirty day each
  minute, fresh ones included; that entry is renamed and pointed at the reconcile task, keeping
  whatever schedule an admin gave it.
- "Reconcile stale rescore runs", every five minutes: fails runs whose worker died, resends runs
  whose message was lost.
"""

from django.db import migrations
from django.utils import timezone

OLD_DIRTY = "Recompute dirty KPI days"
KPIS = "Reconcile lost KPI recomputes"
KPIS_TASK = "reports.tasks.kpis_reconcile_task"
OLD_KPIS_TASK = "reports.tasks.kpis_recompute_dirty_task"
RESCORES = "Reconcile stale rescore runs"
RESCORES_TASK = "leads.tasks.rescore_runs_reconcile_task"


def forward(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    if not PeriodicTask.objects.filter(name=KPIS).exists():
        updated = PeriodicTask.objects.filter(name=OLD_DIRTY).update(name=KPIS, task=KPIS_TASK)
        if not updated:
            PeriodicTask.objects.create(name=KPIS, task=KPIS_TASK, interval=every_minute)
    PeriodicTask.objects.get_or_create(
        name=RESCORES, defaults={"task": RESCORES_TASK, "interval": every_five}
    )
    _tell_beat(apps)


def _tell_beat(apps):
    # A running beat reloads its schedule when this row changes (the model's signals, which
    # would do it, are not sent for a migration's historical models).
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def backward(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=RESCORES).delete()
    PeriodicTask.objects.filter(name=KPIS).update(name=OLD_DIRTY, task=OLD_KPIS_TASK)
    _tell_beat(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_kpi_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forward, backward)]

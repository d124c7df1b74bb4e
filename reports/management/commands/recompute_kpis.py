import sys
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from reports.models import Grain
from reports.periods import grain_periods
from reports.snapshots import snapshots_recompute_all


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since: '{value}' is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Recompute the KPI snapshots (day, week and month; every lead and per channel, campaign "
        "and owner) from --since (default: 35 days ago) to today. With --sync it runs here and "
        "returns when done; otherwise it queues the work for the Celery worker, one task per "
        "month."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_day, help="First day, YYYY-MM-DD.")
        parser.add_argument("--sync", action="store_true", help="Run in this process.")

    def handle(self, *args, since, sync, **options):
        today = timezone.localdate()
        since = since or today - timedelta(days=35)
        if since > today:
            raise CommandError(f"--since: {since} is in the future.")
        if sync:
            with tqdm(desc="Recomputing KPI snapshots", unit="step", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                rows = snapshots_recompute_all(since=since, until=today, progress=progress)
            self.stdout.write(f"Recomputed {rows:,} snapshot rows from {since} to {today}.")
            return

        from reports.tasks import kpis_recompute_range_task

        months = grain_periods(Grain.MONTH, since, today)
        for month in tqdm(months, desc="Queueing recomputes", unit="month", file=sys.stderr):
            kpis_recompute_range_task.delay(
                max(month.start, since).isoformat(), min(month.end, today).isoformat()
            )
        self.stdout.write(
            f"Queued {len(months)} recompute task(s) from {since} to {today}; the worker runs "
            "them (see the KPI snapshots in the admin)."
        )

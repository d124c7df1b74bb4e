import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from leads.scoring.models import RescoreRun
from leads.scoring.services import BATCH_SIZE, rescore_run_execute


class Command(BaseCommand):
    help = "Recompute every lead's score and breakdown, and apply the thresholds (forward only)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        # Recorded as a run like the background ones, so the admin and the API show it too.
        run = RescoreRun.objects.create(reason="manage.py rescore_leads")
        bar = tqdm(desc="Rescoring leads", unit="lead", file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        with bar:
            run = rescore_run_execute(run_id=run.pk, batch_size=batch_size, progress=progress)
        self.stdout.write(
            f"Rescored {run.done} leads; {run.promoted} promoted by their score "
            f"({(run.finished_at - run.started_at).total_seconds():.1f} s)."
        )

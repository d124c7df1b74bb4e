"""Benchmark: importing a generated HubSpot contacts export (issue 4: 20,000 rows/s or more on
PostgreSQL), first into an empty database, then again (every row unchanged), with the 10 scoring
rules of bench_scoring active so that the import's rescore is measured too."""

import csv
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from leads.imports import leads_import
from leads.imports.hubspot import OPTIONAL, REQUIRED
from leads.models import Lead, StageTransition
from leads.scoring.models import ScoringRule

from .bench_scoring import RULES

LIFECYCLES = ["lead"] * 40 + ["marketingqualifiedlead"] * 25 + ["salesqualifiedlead"] * 12 + [
    "opportunity"] * 8 + ["customer"] * 5 + ["other"] * 6 + ["subscriber"] * 4
SOURCES = ["ORGANIC_SEARCH", "PAID_SEARCH", "PAID_SOCIAL", "SOCIAL_MEDIA", "EMAIL_MARKETING",
           "REFERRALS", "DIRECT_TRAFFIC", "OFFLINE", "OTHER_CAMPAIGNS"]
STAGE_DATES = ["Became a Lead Date", "Became a Marketing Qualified Lead Date",
               "Became a Sales Qualified Lead Date", "Became an Opportunity Date",
               "Became a Customer Date"]
DEPTH = {"lead": 1, "marketingqualifiedlead": 2, "salesqualifiedlead": 3, "opportunity": 4,
         "customer": 5, "other": 2, "subscriber": 0}


def export_write(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, 8, 0)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([*REQUIRED, *OPTIONAL])
        for n in range(1, rows + 1):
            lifecycle = rng.choice(LIFECYCLES)
            created = start + timedelta(minutes=rng.randrange(60 * 24 * 600))
            dates, at = [], created
            for i in range(5):
                if i < DEPTH[lifecycle] and rng.random() > 0.1:  # some dates missing
                    at += timedelta(hours=rng.randrange(1, 24 * 30))
                    dates.append(at.strftime("%Y-%m-%d %H:%M"))
                else:
                    dates.append("")
            out.writerow([
                n, "Ada", f"Lovelace{n}", f"contact{n}@bench{n % 997}.example",
                f"Company {n % 5000}", rng.choice(["Head of Sales", "CTO", "Engineer"]),
                lifecycle, rng.choice(SOURCES), created.strftime("%Y-%m-%d %H:%M"), *dates,
                rng.choice(["Software", "Retail", "Fintech"]), rng.choice(["12", "250", "4000"]),
                rng.choice(["Germany", "US", "FR", ""]), "",
            ])


class Command(BaseCommand):
    help = "Time import_leads --format hubspot on a generated export (run it on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--target", type=float, default=20_000, help="rows/s to reach")

    def handle(self, *args, rows, seed, target, **options):
        call_command("migrate", verbosity=0)
        if Lead.objects.exists():
            raise CommandError("Run the benchmark on an empty database (make bench does).")
        for rule in RULES:
            ScoringRule.objects.create(**rule)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "contacts.csv"
            self.stdout.write(f"Writing a {rows:,}-row HubSpot export …")
            export_write(path, rows, seed)
            results = []
            for label in ("first import", "re-import"):
                phases: dict[str, float] = {"read": 0.0}
                started = time.perf_counter()

                def progress(phase, done, total, phases=phases, started=started):
                    phases.setdefault(phase, time.perf_counter() - started)
                    if phase == "score" and total and done == total:
                        phases["commit"] = time.perf_counter() - started

                with path.open(encoding="utf-8", newline="") as stream:
                    report = leads_import(file=stream, format="hubspot", progress=progress)
                seconds = time.perf_counter() - started
                rate = rows / seconds
                results.append(rate)
                self.stdout.write(
                    f"{label}: {report.summary} in {seconds:.1f} s = {rate:,.0f} rows/s "
                    f"on {connection.vendor}"
                )
                marks = sorted(phases.items(), key=lambda kv: kv[1]) + [("end", seconds)]
                self.stdout.write("  phases: " + ", ".join(
                    f"{name} {end - begin:.1f} s"
                    for (name, begin), (_, end) in zip(marks, marks[1:], strict=False)
                ))
        floor = self._floor(rows)
        if floor:
            self.stdout.write(
                f"floor: the same {Lead.objects.count():,} leads and their transitions written "
                f"by bare INSERT ... SELECT (no reading, checks or scoring), foreign keys checked: "
                f"{floor:.1f} s = {rows / floor:,.0f} rows/s. No import of this file can beat it "
                "on this machine."
            )
        verdict = "PASS" if min(results) >= target else "FAIL"
        self.stdout.write(f"{verdict}: slowest {min(results):,.0f} rows/s (target {target:,.0f}).")
        if verdict == "FAIL":
            raise CommandError("Import slower than the target.")

    def _floor(self, rows: int) -> float | None:
        """Time the writes alone: as many leads and transitions as the import wrote, by plain
        INSERT ... SELECT into the same tables, constraints checked, then rolled back."""
        if connection.vendor != "postgresql":
            return None
        leads = Lead.objects.count()
        per_lead = StageTransition.objects.count() / max(leads, 1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM leads_account")
            (account,) = cursor.fetchone()
            started = time.perf_counter()
            cursor.execute(
                """
                INSERT INTO leads_lead (first_name, last_name, email, phone, job_title,
                    account_id, stage, score, first_touch_channel, last_touch_channel, utm_source,
                    utm_medium, utm_campaign, utm_content, utm_term, cta, landing_page,
                    became_lead_at, exit_reason, external_id, version, created_at, updated_at)
                SELECT 'Ada', 'Floor' || i, 'floor' || i || '@floor.invalid', '', 'Engineer',
                    %s, 'lead', 0, 'other', 'other', '', '', '', '', '', '', '',
                    now() - interval '1 day', '', 'floor:' || i, 1, now(), now()
                FROM generate_series(1, %s) i
                """,
                [account, leads],
            )
            cursor.execute(
                """
                INSERT INTO leads_stagetransition (lead_id, from_stage, to_stage, at,
                    actor_system, note, reason, created_at)
                SELECT l.id, '', 'lead', l.became_lead_at, 'import', '', '', now()
                FROM leads_lead l, generate_series(1, %s) n
                WHERE l.external_id LIKE 'floor:%%'
                """,
                [round(per_lead)],
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the checks a commit would run
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
        return seconds

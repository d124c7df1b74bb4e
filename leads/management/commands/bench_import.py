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
from django.db import connection

from leads.imports import leads_import
from leads.imports.hubspot import OPTIONAL, REQUIRED
from leads.models import Lead
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
                started = time.perf_counter()
                with path.open(encoding="utf-8", newline="") as stream:
                    report = leads_import(file=stream, format="hubspot")
                seconds = time.perf_counter() - started
                rate = rows / seconds
                results.append(rate)
                self.stdout.write(
                    f"{label}: {report.summary} in {seconds:.1f} s = {rate:,.0f} rows/s "
                    f"on {connection.vendor}"
                )
        verdict = "PASS" if min(results) >= target else "FAIL"
        self.stdout.write(f"{verdict}: slowest {min(results):,.0f} rows/s (target {target:,.0f}).")
        if verdict == "FAIL":
            raise CommandError("Import slower than the target.")

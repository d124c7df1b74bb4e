# ruff: noqa: C408
"""Benchmark: rescoring N leads with 10 rules and M activities (issue: < 60 s for 100,000 leads and
500,000 activities on PostgreSQL on a 2-core machine).

The fixture is written with bulk inserts straight into the tables: it is benchmark scaffolding in a
throwaway database, not application data, and going through the services would only measure them.
"""

import random
import sys
import time
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from leads.models import Account, Activity, ActivityType, Lead
from leads.scoring.models import RescoreRun, ScoringRule
from leads.scoring.services import rescore_run_execute

RULES = [
    dict(name="Decision maker", kind="fit", field="job_title", operator="contains", value="head",
         points=15),
    dict(name="Target industry", kind="fit", field="industry", operator="in",
         value="Software,Fintech,Healthcare", points=10),
    dict(name="Mid-size or larger", kind="fit", field="employees", operator="gte", value="200",
         points=10),
    dict(name="DACH", kind="fit", field="country", operator="in", value="DE,AT,CH", points=5),
    dict(name="Free mail", kind="fit", field="email_domain", operator="in",
         value="gmail.com,yahoo.com", points=-10),
    dict(name="Demo requested", kind="engagement", activity_type="demo_requested", points=30,
         cap=60),
    dict(name="Email clicks", kind="engagement", activity_type="email_clicked", points=5, cap=20),
    dict(name="Page views", kind="engagement", activity_type="page_view", points=2, cap=20),
    dict(name="Forms", kind="engagement", activity_type="form_submitted", points=10, cap=30),
    dict(name="Unsubscribed", kind="engagement", activity_type="unsubscribed", points=-25, cap=25),
]
TITLES = ["Head of Sales", "CTO", "Engineer", "Marketing Manager", "Head of IT", "Analyst"]
INDUSTRIES = ["Software", "Fintech", "Healthcare", "Retail", "Manufacturing", "Logistics"]
COUNTRIES = ["DE", "AT", "CH", "US", "GB", "FR", "NL"]
DOMAINS = ["acme.example", "gmail.com", "corp.example", "yahoo.com", "bigco.example"]


class Command(BaseCommand):
    help = "Time a full rescore on a generated data set (run it on PostgreSQL: make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=100_000)
        parser.add_argument("--activities", type=int, default=500_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, leads, activities, seed, **options):
        call_command("migrate", verbosity=0)
        if Lead.objects.exists():
            raise CommandError("bench_scoring needs an empty database (make bench makes one).")
        rng = random.Random(seed)
        self._fixture(rng, leads, activities)
        rows = f"{leads:,} leads, {activities:,} activities, {len(RULES)} rules"
        for attempt in ("first", "second"):
            run = RescoreRun.objects.create(reason=f"bench ({attempt} run)")
            bar = tqdm(total=leads, desc=f"Rescore, {attempt} run", unit="lead", file=sys.stderr)
            start = time.perf_counter()
            with bar:
                run = rescore_run_execute(
                    run_id=run.pk, progress=lambda done, total, bar=bar: bar.update(done - bar.n)
                )
            seconds = time.perf_counter() - start
            self.stdout.write(
                f"bench_scoring [{connection.vendor}] {attempt} rescore of {rows}: "
                f"{seconds:.1f} s ({run.promoted} promoted)"
            )

    def _fixture(self, rng, n_leads, n_activities):
        now = timezone.now()
        accounts = Account.objects.bulk_create(
            Account(name=f"Account {i}", domain=f"a{i}.example", industry=rng.choice(INDUSTRIES),
                    employees=rng.choice([5, 40, 150, 300, 2000]), country=rng.choice(COUNTRIES))
            for i in range(max(1, n_leads // 20))
        )
        with tqdm(total=n_leads, desc="Fixture: leads", unit="lead", file=sys.stderr) as bar:
            for start in range(0, n_leads, 10_000):
                batch = [
                    Lead(email=f"bench{i}@{rng.choice(DOMAINS)}", job_title=rng.choice(TITLES),
                         account=rng.choice(accounts), first_touch_channel="other",
                         became_lead_at=now - timedelta(days=rng.randint(1, 540)))
                    for i in range(start, min(n_leads, start + 10_000))
                ]
                Lead.objects.bulk_create(batch, batch_size=5000)
                bar.update(len(batch))
        lead_ids = list(Lead.objects.values_list("pk", flat=True))
        types = ActivityType.values
        with tqdm(total=n_activities, desc="Fixture: activities", unit="act",
                  file=sys.stderr) as bar:
            for start in range(0, n_activities, 20_000):
                size = min(20_000, n_activities - start)
                Activity.objects.bulk_create(
                    (Activity(lead_id=rng.choice(lead_ids), type=rng.choice(types),
                              at=now - timedelta(hours=rng.randint(1, 24 * 180)))
                     for _ in range(size)),
                    batch_size=5000,
                )
                bar.update(size)
        ScoringRule.objects.bulk_create(ScoringRule(**rule) for rule in RULES)

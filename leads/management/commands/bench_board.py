# ruff: noqa: C408
"""Benchmark: the pipeline board with 5,000 open leads (issue 6: rendered server-side in under
300 ms, on PostgreSQL via DATABASE_URL; make bench runs it on a throwaway database).

The fixture is written with bulk inserts straight into the tables (benchmark scaffolding, not
application data): leads spread over the four open stages and ten owners, each with its entry
transition and, past `lead`, the move into its stage. Then GET /leads/board/ as a manager through
Django's test client, the whole request (middleware, queries, template), median of --repeat runs.
"""

import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
from django.utils import timezone

from campaigns.models import Campaign, Channel
from leads import roles
from leads.models import Account, Lead, StageTransition
from leads.stages import FUNNEL, REACHED_FIELD, funnel_index

# Share of the open leads in each stage: a funnel, most at the top.
STAGE_WEIGHTS = {"lead": 45, "mql": 30, "sql": 15, "opportunity": 10}


class Command(BaseCommand):
    help = "Time the pipeline board with N open leads (run it on PostgreSQL: make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=5_000)
        parser.add_argument("--owners", type=int, default=10)
        parser.add_argument("--repeat", type=int, default=15)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--target-ms", type=float, default=300.0)

    def handle(self, *args, leads, owners, repeat, seed, target_ms, **options):
        call_command("migrate", verbosity=0)
        if Lead.objects.exists():
            raise CommandError("bench_board needs an empty database (make bench makes one).")
        setup_test_environment()  # the test client's host, as in tests
        rng = random.Random(seed)
        manager, reps = self._users(owners)
        started = time.perf_counter()
        self._fixture(rng, leads, reps)
        self.stdout.write(
            f"bench_board [{connection.vendor}]: {leads:,} open leads, {owners} owners, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        client = Client()
        client.force_login(manager)
        cases = [
            ("board, everyone's leads", {}),
            ("board, one owner and a score range", {"owner": reps[0].pk, "score_min": 10,
                                                    "score_max": 80}),
        ]
        results = []
        for label, params in cases:
            median, queries = self._time(client, params, repeat)
            results.append(median)
            self.stdout.write(
                f"  {label}: median {median:.1f} ms over {repeat} GETs, {queries} queries"
            )
        verdict = "PASS" if results[0] < target_ms else "FAIL"
        self.stdout.write(
            f"{verdict}: the board with {leads:,} open leads renders in {results[0]:.1f} ms "
            f"(target < {target_ms:.0f} ms)."
        )
        if verdict == "FAIL":
            raise CommandError("The board is slower than the target.")

    def _time(self, client, params, repeat) -> tuple[float, int]:
        for _ in range(2):  # warm up: templates compiled, caches and plans filled
            client.get("/leads/board/", params)
        queries = []

        def count(execute, sql, params_, many, context):
            queries.append(sql)
            return execute(sql, params_, many, context)

        # (not CaptureQueriesContext: each request's start empties the connection's query log)
        with connection.execute_wrapper(count):
            response = client.get("/leads/board/", params)
        if response.status_code != 200:
            raise CommandError(f"GET /leads/board/ answered {response.status_code}.")
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.get("/leads/board/", params)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times), len(queries)

    def _users(self, owners):
        User = get_user_model()
        manager = User.objects.create_user("bench-manager", password="x")  # noqa: S106
        manager.groups.add(Group.objects.get(name=roles.MANAGER))
        reps = []
        rep_group = Group.objects.get(name=roles.SALES_REP)
        for i in range(owners):
            rep = User.objects.create_user(f"bench-rep{i}", first_name="Rep", last_name=str(i))
            rep.groups.add(rep_group)
            reps.append(rep)
        return manager, reps

    def _fixture(self, rng, n, reps):
        now = timezone.now()
        accounts = Account.objects.bulk_create(
            Account(name=f"Bench account {i}", domain=f"b{i}.example") for i in range(n // 10 + 1)
        )
        campaigns = Campaign.objects.bulk_create(
            Campaign(name=f"Bench campaign {i}", channel=Channel.PAID_SEARCH,
                     utm_campaign=f"bench-{i}", form_key=f"bench-key-{i}")
            for i in range(20)
        )
        stages = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()), k=n)
        rows = []
        for i, stage in enumerate(stages):
            created = now - timedelta(days=rng.randint(5, 400), minutes=rng.randint(0, 1440))
            entered = created + (now - created) * rng.random() if stage != "lead" else created
            dates = {REACHED_FIELD[s]: entered for s in FUNNEL[1: funnel_index(stage) + 1]}
            rows.append(Lead(
                email=f"bench{i}@bench.example", first_name="Bench", last_name=f"Lead {i}",
                job_title=rng.choice(["CTO", "Head of Sales", "Engineer", "Analyst"]),
                account=rng.choice(accounts), owner=rng.choice(reps), stage=stage,
                score=rng.randint(0, 100), deal_amount=Decimal(rng.randrange(500, 90_000, 250)),
                first_touch_channel=rng.choice(Channel.values),
                first_touch_campaign=rng.choice([None, *campaigns]),
                became_lead_at=created, **dates,
            ))
        created = Lead.objects.bulk_create(rows, batch_size=2_000)
        transitions = []
        for lead in created:
            transitions.append(StageTransition(lead=lead, from_stage="", to_stage="lead",
                                               at=lead.became_lead_at, actor_system="import"))
            if lead.stage != "lead":
                transitions.append(StageTransition(
                    lead=lead, from_stage="lead", to_stage=lead.stage,
                    at=lead.reached_at(lead.stage), actor_system="import",
                ))
        StageTransition.objects.bulk_create(transitions, batch_size=5_000)
        if connection.vendor == "postgresql":  # fresh statistics, as autovacuum would soon give
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE leads_lead, leads_stagetransition, leads_account")

"""`manage.py seed_demo`: fill a fresh database with realistic, reproducible demo data.

What the data is gets decided up front by `leads.demo.demo_plan`, a pure function of the seed and
of today's date; this command only writes that plan, and writes leads, moves and activities only
through the lead services, so demo history obeys the same lifecycle rules as real history.
"""

import argparse
import sys
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from tqdm import tqdm

from campaigns.models import Campaign
from campaigns.services import campaign_create
from leads import demo
from leads.actors import SystemActor
from leads.models import Account, Activity, Lead, StageTransition
from leads.services import (
    account_create,
    activity_create,
    lead_create,
    lead_move_to_stage,
    lead_update,
)
from leads.stages import Stage

# Leads per transaction: one commit per lead would make SQLite sync thousands of times, one
# transaction for everything would hold the write lock for the whole run.
BATCH_SIZE = 100


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Fill a fresh database with demo data: users for every role, accounts, campaigns, and "
        "leads with their stage history and activities. The same --seed gives the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default: 1).")
        parser.add_argument(
            "--leads", type=_positive_int, default=3000, help="Leads to create (default: 3000)."
        )
        parser.add_argument(
            "--password", default="demo", help="Password of every demo login (default: demo)."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing, successfully, when the database already has leads.",
        )

    def handle(self, *args, seed, leads, password, if_empty, **options):
        if Lead.objects.exists():
            if if_empty:
                self.stdout.write("The database already has leads: --if-empty, so did nothing.")
                return
            raise CommandError(
                "The database already has leads. Demo data goes into a fresh database only: point "
                "DATABASE_URL at a new one and run `manage.py migrate`, or pass --if-empty to "
                "skip seeding when leads exist."
            )
        if not password:
            raise CommandError("--password must not be empty.")

        started = time.perf_counter()
        plan = demo.demo_plan(seed=seed, leads=leads, anchor=demo.demo_anchor())
        # All or nothing: an interrupted seed (Ctrl-C during `make run`) leaves an empty
        # database, so the next `seed_demo --if-empty` seeds it again instead of keeping half.
        bar = tqdm(total=len(plan.leads), desc="Seeding demo leads", unit="lead", file=sys.stderr)
        with transaction.atomic(), bar:
            writer = _PlanWriter(
                users=_users_upsert(password),
                accounts=_accounts_create(plan.accounts),
                campaigns=_campaigns_get_or_create(plan.campaigns),
            )
            for lead_plan in plan.leads:
                writer.lead_write(lead_plan)
                bar.update()
        self._summary(seed=seed, password=password, seconds=time.perf_counter() - started)

    def _summary(self, *, seed: int, password: str, seconds: float) -> None:
        write = self.stdout.write
        by_stage = dict(Lead.objects.order_by().values_list("stage").annotate(n=Count("id")))
        total = sum(by_stage.values())
        write(self.style.SUCCESS(f"Seeded {total} demo leads in {seconds:.1f} s (seed {seed})."))
        write("Leads by stage:")
        for stage in Stage:
            write(f"  {stage.label:<14}{by_stage.get(stage.value, 0):>6}")
        churned = Account.objects.filter(churned_at__isnull=False).count()
        write(
            f"Activities: {Activity.objects.count()}, "
            f"stage transitions: {StageTransition.objects.count()}, "
            f"accounts: {Account.objects.count()} ({churned} churned), "
            f"campaigns: {Campaign.objects.count()}."
        )
        write("Demo logins (username / password, role):")
        for user in demo.DEMO_USERS:
            role = f"{user.role} (superuser)" if user.is_superuser else user.role
            write(f"  {user.username:<9} / {password:<10} {role}")


def _users_upsert(password: str) -> dict:
    """Create or update the demo users; a re-run resets their password, flags and role."""
    roles = {user.role for user in demo.DEMO_USERS}
    groups = {group.name: group for group in Group.objects.filter(name__in=roles)}
    if missing := sorted(roles - set(groups)):
        raise CommandError(f"Role groups missing ({', '.join(missing)}): run `manage.py migrate`.")
    User = get_user_model()
    users = {}
    for spec in demo.DEMO_USERS:
        user, _ = User.objects.get_or_create(username=spec.username)
        user.first_name, user.last_name = spec.first_name, spec.last_name
        user.email = f"{spec.username}@funnelcrm.example"
        user.is_active = user.is_staff = True  # every role works in the Django admin too
        user.is_superuser = spec.is_superuser
        user.set_password(password)
        user.save(
            update_fields=[
                "first_name",
                "last_name",
                "email",
                "is_active",
                "is_staff",
                "is_superuser",
                "password",
            ]
        )
        user.groups.set([groups[spec.role]])
        users[spec.username] = user
    return users


def _accounts_create(plans) -> list[Account]:
    return [
        account_create(
            actor=SystemActor.DEMO,
            name=p.name,
            domain=p.domain,
            industry=p.industry,
            employees=p.employees,
            country=p.country,
            churned_at=p.churned_at,
        )
        for p in plans
    ]


def _campaigns_get_or_create(plans) -> dict[str, Campaign]:
    existing = Campaign.objects.in_bulk([p.utm_campaign for p in plans], field_name="utm_campaign")
    return {
        p.utm_campaign: existing.get(p.utm_campaign)
        or campaign_create(
            actor=SystemActor.DEMO, name=p.name, channel=p.channel, utm_campaign=p.utm_campaign
        )
        for p in plans
    }


class _PlanWriter:
    """Writes one planned lead through the services, in the plan's order and at its times."""

    def __init__(self, *, users: dict, accounts: list[Account], campaigns: dict[str, Campaign]):
        self.users, self.accounts, self.campaigns = users, accounts, campaigns

    def lead_write(self, plan: demo.LeadPlan) -> Lead:
        owner = self.users[plan.owner]

        def actor(who: str):
            return owner if who == demo.OWNER else SystemActor.DEMO

        lead = lead_create(
            actor=actor(plan.created_by),
            at=plan.created_at,
            owner=owner,
            email=plan.email,
            first_name=plan.first_name,
            last_name=plan.last_name,
            job_title=plan.job_title,
            account=self.accounts[plan.account] if plan.account is not None else None,
            channel=plan.channel,
            campaign=self.campaigns.get(plan.campaign),
        )
        for move in plan.moves:
            lead = lead_move_to_stage(
                lead=lead,
                to_stage=move.to_stage,
                actor=actor(move.actor),
                at=move.at,
                note=move.note,
                reason=move.reason,
            )
            if move.deal_amount is not None:
                lead = lead_update(lead=lead, actor=owner, data={"deal_amount": move.deal_amount})
        for activity in plan.activities:
            activity_create(
                lead=lead,
                type=activity.type,
                actor=actor(activity.actor),
                at=activity.at,
                payload=activity.payload,
            )
        return lead

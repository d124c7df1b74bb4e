"""`manage.py seed_demo`: fill a fresh database with realistic, reproducible demo data.

What the data is gets decided up front by `leads.demo.demo_plan`, a pure function of the seed and
of today's date; this command only writes that plan, and writes leads, moves, activities, touches,
campaigns and enrolments only through the services, so demo history obeys the same rules as real
history. Daily metrics go through `campaigns.services.daily_metrics_bulk_upsert`.
"""

import argparse
import sys
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, F, Q
from tqdm import tqdm

from campaigns.attribution import touch_resolve
from campaigns.models import Campaign, DailyMetric, NurtureEnrolment, NurtureWorkflow
from campaigns.services import (
    campaign_create,
    daily_metrics_bulk_upsert,
    nurture_enrol,
    nurture_enrolment_close,
    nurture_workflow_create,
)
from leads import demo
from leads.actors import SystemActor
from leads.models import Account, Activity, Lead, StageTransition
from leads.roles import SALES_REP
from leads.services import (
    account_create,
    activity_create,
    lead_create,
    lead_move_to_stage,
    lead_touch_record,
    lead_update,
)
from leads.stages import Stage

METRICS_PER_WRITE = 500  # rows per bulk write, so the progress bar moves


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Fill a fresh database with demo data: users for every role, accounts, campaigns, nurture "
        "workflows, leads with their stage history, activities, touches and enrolments, and 18 "
        "months of daily marketing metrics. The same --seed gives the same data."
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
            help="Do nothing, successfully, when the database already has leads or metrics.",
        )

    def handle(self, *args, seed, leads, password, if_empty, **options):
        if Lead.objects.exists() or DailyMetric.objects.exists():
            if if_empty:
                self.stdout.write(
                    "The database already has leads or metrics: --if-empty, so did nothing."
                )
                return
            raise CommandError(
                "The database already has leads or marketing metrics. Demo data goes into a fresh "
                "database only: point DATABASE_URL at a new one and run `manage.py migrate`, or "
                "pass --if-empty to skip seeding when data exists."
            )
        if not password:
            raise CommandError("--password must not be empty.")

        started = time.perf_counter()
        plan = demo.demo_plan(seed=seed, leads=leads, anchor=demo.demo_anchor())
        # All or nothing: an interrupted seed (Ctrl-C during `make run`) leaves an empty
        # database, so the next `seed_demo --if-empty` seeds it again instead of keeping half.
        with transaction.atomic():
            users = _users_upsert(password)
            campaigns = _campaigns_get_or_create(plan.campaigns, users)
            writer = _PlanWriter(
                users=users,
                accounts=_accounts_create(plan.accounts),
                campaigns=campaigns,
                workflows=_workflows_get_or_create(plan.workflows, campaigns),
            )
            with _bar(len(plan.leads), "Seeding demo leads", "lead") as bar:
                for lead_plan in plan.leads:
                    writer.lead_write(lead_plan)
                    bar.update()
            with _bar(len(plan.metrics), "Seeding demo metrics", "row") as bar:
                for start in range(0, len(plan.metrics), METRICS_PER_WRITE):
                    chunk = plan.metrics[start : start + METRICS_PER_WRITE]
                    _metrics_write(chunk, campaigns)
                    bar.update(len(chunk))
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
            f"accounts: {Account.objects.count()} ({churned} churned)."
        )
        returned = Lead.objects.filter(last_touch_at__gt=F("became_lead_at")).count()
        write(f"Leads back through a later touch: {returned}.")
        statuses = dict(Campaign.objects.order_by().values_list("status").annotate(n=Count("id")))
        write(
            f"Campaigns: {sum(statuses.values())} ("
            + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
            + ")."
        )
        metrics = DailyMetric.objects.aggregate(
            days=Count("date", distinct=True),
            channel_rows=Count("id", filter=Q(campaign__isnull=True)),
            campaign_rows=Count("id", filter=Q(campaign__isnull=False)),
        )
        write(
            f"Daily metrics: {metrics['days']} days, {metrics['channel_rows']} channel rows, "
            f"{metrics['campaign_rows']} campaign rows."
        )
        enrolments = NurtureEnrolment.objects.aggregate(
            all=Count("id"), goal=Count("id", filter=Q(goal_reached_at__isnull=False))
        )
        write(
            f"Nurture workflows: {NurtureWorkflow.objects.count()}, "
            f"enrolments: {enrolments['all']} ({enrolments['goal']} reached the goal)."
        )
        write("Demo logins (username / password, role):")
        for user in demo.DEMO_USERS:
            role = f"{user.role} (superuser)" if user.is_superuser else user.role
            write(f"  {user.username:<9} / {password:<10} {role}")


def _bar(total: int, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)


def _users_upsert(password: str) -> dict:
    """Create or update the demo users; a re-run resets their password, flags and role."""
    role_names = {user.role for user in demo.DEMO_USERS}
    groups = {group.name: group for group in Group.objects.filter(name__in=role_names)}
    if missing := sorted(role_names - set(groups)):
        raise CommandError(f"Role groups missing ({', '.join(missing)}): run `manage.py migrate`.")
    User = get_user_model()
    users = {}
    for spec in demo.DEMO_USERS:
        user, _ = User.objects.get_or_create(username=spec.username)
        user.first_name, user.last_name = spec.first_name, spec.last_name
        user.email = f"{spec.username}@funnelcrm.example"
        user.is_active = True
        # Reps work in the browser pages; the other roles also use the Django admin (campaigns,
        # scoring rules, users).
        user.is_staff = spec.role != SALES_REP
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


def _campaigns_get_or_create(plans, users: dict) -> dict[str, Campaign]:
    existing = Campaign.objects.in_bulk([p.utm_campaign for p in plans], field_name="utm_campaign")
    for p in plans:
        if p.utm_campaign in existing and existing[p.utm_campaign].channel != p.channel:
            raise CommandError(
                f"Campaign {p.utm_campaign} exists with channel "
                f"{existing[p.utm_campaign].channel}; the demo needs {p.channel}."
            )
    return {
        p.utm_campaign: existing.get(p.utm_campaign)
        or campaign_create(
            actor=SystemActor.DEMO,
            name=p.name,
            channel=p.channel,
            utm_campaign=p.utm_campaign,
            owner=users[p.owner],
            status=p.status,
            starts_on=p.starts_on,
            ends_on=p.ends_on,
            budget=p.budget,
            utm_source=p.utm_source,
            utm_medium=p.utm_medium,
            landing_page_url=p.landing_page_url,
        )
        for p in plans
    }


def _workflows_get_or_create(plans, campaigns: dict[str, Campaign]) -> dict[str, NurtureWorkflow]:
    existing = NurtureWorkflow.objects.in_bulk([p.name for p in plans], field_name="name")
    return {
        p.name: existing.get(p.name)
        or nurture_workflow_create(
            actor=SystemActor.DEMO, name=p.name, goal=p.goal, campaign=campaigns[p.campaign]
        )
        for p in plans
    }


def _metrics_write(rows, campaigns: dict[str, Campaign]) -> None:
    daily_metrics_bulk_upsert(
        actor=SystemActor.DEMO,
        rows=[
            (row.date, row.channel, campaigns[row.campaign] if row.campaign else None, row.values)
            for row in rows
        ],
    )


class _PlanWriter:
    """Writes one planned lead through the services, in the plan's order and at its times."""

    def __init__(self, *, users, accounts, campaigns, workflows):
        self.users, self.accounts = users, accounts
        self.campaigns, self.workflows = campaigns, workflows

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
            utm=plan.utm,
            cta=plan.cta,
            landing_page=plan.landing_page,
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
        for touch in plan.returns:
            campaign = self.campaigns.get(touch.campaign)
            lead = lead_touch_record(
                lead=lead,
                touch=touch_resolve(campaign=campaign, channel=touch.channel),
                actor=SystemActor.DEMO,
                at=touch.at,
            )
        for enrolment in plan.enrolments:
            enrolled = nurture_enrol(
                actor=SystemActor.DEMO,
                workflow=self.workflows[enrolment.workflow],
                lead=lead,
                at=enrolment.entered_at,
            )
            if enrolment.goal_reached_at or enrolment.exited_at:
                nurture_enrolment_close(
                    actor=SystemActor.DEMO,
                    enrolment=enrolled,
                    goal_reached_at=enrolment.goal_reached_at,
                    exited_at=enrolment.exited_at,
                )
        return lead

import factory
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from leads import roles
from leads.models import Account, Lead


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            if not Group.objects.filter(name=extracted).exists():
                # A transactional test's flush removed the migration's groups: put them back.
                roles.roles_sync(django_apps)
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    industry = "Software"
    employees = 50
    country = "DE"


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead in stage `lead`, created through the service so it has its entry transition."""

    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    owner = factory.SubFactory(UserFactory, role=roles.SALES_REP)
    account = factory.SubFactory(AccountFactory)
    channel = "organic_search"
    at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=30))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from leads.actors import SystemActor
        from leads.services import lead_create

        return lead_create(actor=SystemActor.SYSTEM, **kwargs)


class CampaignFactory(factory.django.DjangoModelFactory):
    """A campaign, created through the service."""

    class Meta:
        model = "campaigns.Campaign"

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = "paid_search"
    utm_campaign = factory.Sequence(lambda n: f"campaign-{n}")
    status = "active"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from campaigns.services import campaign_create
        from leads.actors import SystemActor

        return campaign_create(actor=SystemActor.SYSTEM, **kwargs)

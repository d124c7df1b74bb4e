"""The four roles of PRODUCT.md as groups, and the lead visibility every door asks the selector
for."""

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, Group, Permission

from leads import roles
from leads.roles import roles_sync
from leads.selectors import lead_list
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROLE_NAMES = [roles.SALES_REP, roles.MARKETER, roles.MANAGER, roles.ADMIN]
LEAD_RIGHTS = ["leads.view_all_leads", "leads.move_lead_backward", "leads.reopen_lead"]


def group_perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def all_role_perms() -> dict[str, set[str]]:
    return {name: group_perms(name) for name in ROLE_NAMES}


# --- the groups the migration creates ------------------------------------------------------------


def test_migration_creates_the_four_role_groups():
    assert set(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) == set(
        ROLE_NAMES
    )


def test_sales_rep_works_leads_but_has_no_manager_rights():
    perms = group_perms(roles.SALES_REP)

    assert {"leads.view_lead", "leads.add_lead", "leads.change_lead"} <= perms
    for right in [*LEAD_RIGHTS, "leads.reassign_lead", "leads.delete_lead"]:
        assert right not in perms


def test_manager_sees_all_moves_backward_reopens_and_reassigns():
    perms = group_perms(roles.MANAGER)

    assert {*LEAD_RIGHTS, "leads.reassign_lead", "leads.change_lead"} <= perms


def test_marketer_sees_all_leads_but_cannot_reopen_or_move_backward():
    perms = group_perms(roles.MARKETER)

    assert "leads.view_all_leads" in perms
    assert "campaigns.add_campaign" in perms
    assert "leads.reopen_lead" not in perms
    assert "leads.move_lead_backward" not in perms
    assert "leads.reassign_lead" not in perms


def test_admin_group_has_every_permission():
    assert len(group_perms(roles.ADMIN)) == Permission.objects.count()


def test_users_get_their_rights_from_their_group(rep, marketer, manager):
    assert [rep.has_perm(p) for p in LEAD_RIGHTS] == [False, False, False]
    assert [manager.has_perm(p) for p in LEAD_RIGHTS] == [True, True, True]
    assert marketer.has_perm("leads.view_all_leads")
    assert not marketer.has_perm("leads.reopen_lead")


# --- roles_sync ----------------------------------------------------------------------------------


def test_roles_sync_is_idempotent():
    # given
    before = all_role_perms()
    permission_count = Permission.objects.count()

    # when
    roles_sync(apps)
    roles_sync(apps)

    # then
    assert all_role_perms() == before
    assert Group.objects.filter(name__in=ROLE_NAMES).count() == len(ROLE_NAMES)
    assert Permission.objects.count() == permission_count


def test_roles_sync_restores_a_permission_removed_by_hand(manager):
    # given: someone stripped the manager group in the admin
    group = Group.objects.get(name=roles.MANAGER)
    group.permissions.remove(Permission.objects.get(codename="reopen_lead"))

    # when
    roles_sync(apps)

    # then
    assert "leads.reopen_lead" in group_perms(roles.MANAGER)
    fresh = type(manager).objects.get(pk=manager.pk)  # no cached permissions
    assert fresh.has_perm("leads.reopen_lead")


def test_roles_sync_leaves_the_app_registry_working():
    # create_permissions (run by every later migrate and test flush) skips an app whose
    # models_module is unset, so roles_sync must put the real module back.
    import leads.models

    roles_sync(apps)

    assert apps.get_app_config("leads").models_module is leads.models
    assert apps.get_app_config("auth").models_module is not None


# --- lead visibility -----------------------------------------------------------------------------


@pytest.fixture
def leads_of_two_reps(rep, other_rep, lead_factory):
    mine = lead_factory(owner=rep, email="mine@example.com")
    theirs = lead_factory(owner=other_rep, email="theirs@example.com")
    unowned = lead_factory(owner=None, email="nobody@example.com")
    return mine, theirs, unowned


def test_lead_list_scopes_a_rep_to_their_own_leads(rep, leads_of_two_reps):
    mine, _, _ = leads_of_two_reps

    assert list(lead_list(user=rep)) == [mine]


@pytest.mark.parametrize("who", ["manager", "marketer"])
def test_lead_list_shows_every_lead_to_a_manager_or_marketer(who, request, leads_of_two_reps):
    user = request.getfixturevalue(who)

    assert set(lead_list(user=user)) == set(leads_of_two_reps)


def test_lead_list_shows_nothing_to_an_anonymous_user(leads_of_two_reps):
    assert list(lead_list(user=AnonymousUser())) == []
    assert list(lead_list(user=None)) == []


def test_lead_list_shows_nothing_to_an_inactive_user(leads_of_two_reps):
    # given: a manager who has left the company
    gone = UserFactory(username="gone", role=roles.MANAGER, is_active=False)

    assert list(lead_list(user=gone)) == []


def test_lead_list_applies_filters_within_the_scope(rep, other_rep, leads_of_two_reps):
    assert list(lead_list(user=rep, filters={"owner": str(other_rep.pk)})) == []
    assert [lead.email for lead in lead_list(user=rep, filters={"q": "MINE"})] == [
        "mine@example.com"
    ]


def test_a_user_without_any_role_sees_no_leads_even_their_own(lead_factory):
    from leads.selectors import lead_list
    from tests.factories import UserFactory

    nobody = UserFactory(username="norole")
    lead_factory(owner=nobody)

    assert list(lead_list(user=nobody)) == []

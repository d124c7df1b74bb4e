"""The Django admin is a door too: it scopes leads, moves them through the service, keeps
history."""

from html.parser import HTMLParser

import pytest

from leads import roles
from leads.actors import SystemActor
from leads.models import Lead, StageTransition
from leads.services import lead_move_to_stage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/leads/lead/"


def change_url(lead):
    return f"{CHANGELIST}{lead.pk}/change/"


def put_in_stage(lead, *stages):
    for stage in stages:
        lead = lead_move_to_stage(lead=lead, to_stage=stage, actor=SystemActor.SYSTEM)
    return lead


def listed_emails(response):
    return {lead.email for lead in response.context["cl"].result_list}


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def staff_rep(rep):
    rep.is_staff = True
    rep.save(update_fields=["is_staff"])
    return rep


@pytest.fixture
def staff_manager(manager):
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    return manager


@pytest.fixture
def pipeline(rep, other_rep, lead_factory):
    """Three leads: two of rep's (one MQL from email), one of other_rep's."""
    mql = put_in_stage(lead_factory(owner=rep, email="mql@example.com", channel="email"), "mql")
    fresh = lead_factory(owner=rep, email="fresh@example.com", last_name="Hopper")
    theirs = lead_factory(owner=other_rep, email="theirs@example.com")
    return {"mql": mql, "fresh": fresh, "theirs": theirs}


# --- changelist ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin_user", "staff_manager"])
def test_changelist_shows_every_lead_to_admin_and_manager(who, request, client, pipeline):
    client.force_login(request.getfixturevalue(who))

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert listed_emails(response) == {"mql@example.com", "fresh@example.com", "theirs@example.com"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage__exact": "mql"}, {"mql@example.com"}),
        ({"first_touch_channel__exact": "email"}, {"mql@example.com"}),
        ({"q": "hopper"}, {"fresh@example.com"}),
        ({"q": "THEIRS@"}, {"theirs@example.com"}),
    ],
)
def test_changelist_filters_and_search(params, expected, client, admin_user, pipeline):
    client.force_login(admin_user)

    response = client.get(CHANGELIST, params)

    assert response.status_code == 200
    assert listed_emails(response) == expected


def test_changelist_filters_by_owner(client, admin_user, other_rep, pipeline):
    client.force_login(admin_user)

    response = client.get(CHANGELIST, {"owner__id__exact": other_rep.pk})

    assert response.status_code == 200
    assert listed_emails(response) == {"theirs@example.com"}


def test_changelist_offers_the_stage_owner_and_channel_filters(client, admin_user, pipeline):
    client.force_login(admin_user)

    response = client.get(CHANGELIST)

    titles = {spec.title.lower() for spec in response.context["cl"].filter_specs}
    assert titles >= {"stage", "owner", "first-touch channel", "last-touch channel"}


def test_staff_rep_sees_only_their_own_leads(client, staff_rep, pipeline):
    client.force_login(staff_rep)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert listed_emails(response) == {"mql@example.com", "fresh@example.com"}
    assert "theirs@example.com" not in response.content.decode()


def test_staff_rep_cannot_open_another_reps_lead(client, staff_rep, pipeline):
    client.force_login(staff_rep)

    response = client.get(change_url(pipeline["theirs"]), follow=True)

    assert "theirs@example.com" not in response.content.decode()
    assert any("doesn’t exist" in m or "doesn't exist" in m for m in messages_of(response))


# --- the move action -----------------------------------------------------------------------------


def _move_action(client, leads, to_stage, note="", reason=""):
    return client.post(
        CHANGELIST,
        {
            "action": "move_to_stage",
            "_selected_action": [lead.pk for lead in leads],
            "to_stage": to_stage,
            "note": note,
            "reason": reason,
        },
        follow=True,
    )


def test_move_action_moves_leads_through_the_service(client, admin_user, pipeline):
    # given
    client.force_login(admin_user)
    fresh, theirs = pipeline["fresh"], pipeline["theirs"]

    # when
    response = _move_action(client, [fresh, theirs], "sql", note="qualified on a call")

    # then
    assert response.status_code == 200
    assert any("Moved 2 lead(s) to SQL" in m for m in messages_of(response))
    for lead in (fresh, theirs):
        lead.refresh_from_db()
        assert lead.stage == "sql"
        assert lead.became_mql_at is not None  # skipped stage stamped
        assert lead.version == 2
        latest = lead.transitions.order_by("-id").first()
        assert (latest.from_stage, latest.to_stage) == ("lead", "sql")
        assert latest.actor_user == admin_user
        assert latest.note == "qualified on a call"


def test_move_action_reports_a_rule_violation_and_moves_nothing(client, admin_user, rep,
                                                                 lead_factory):
    # given
    client.force_login(admin_user)
    lead = put_in_stage(lead_factory(owner=rep, email="deal@example.com"), "sql")
    transitions_before = lead.transitions.count()

    # when: lost without a reason
    response = _move_action(client, [lead], "lost")

    # then
    assert response.status_code == 200
    errors = messages_of(response)
    assert any("Not moved" in m and "needs a reason" in m for m in errors)
    assert not any(m.startswith("Moved") for m in errors)
    lead.refresh_from_db()
    assert lead.stage == "sql"
    assert lead.closed_at is None
    assert lead.transitions.count() == transitions_before


def test_move_action_without_a_stage_asks_for_one(client, admin_user, pipeline):
    client.force_login(admin_user)

    response = _move_action(client, [pipeline["fresh"]], "")

    assert any("Choose a stage" in m for m in messages_of(response))
    pipeline["fresh"].refresh_from_db()
    assert pipeline["fresh"].stage == "lead"


def test_staff_rep_cannot_move_another_reps_lead_with_the_action(client, staff_rep, pipeline):
    client.force_login(staff_rep)
    theirs = pipeline["theirs"]

    _move_action(client, [theirs], "mql")

    theirs.refresh_from_db()
    assert theirs.stage == "lead"
    assert theirs.transitions.count() == 1


def test_staff_rep_may_not_move_backward_with_the_action(client, staff_rep, pipeline):
    client.force_login(staff_rep)
    mql = pipeline["mql"]

    response = _move_action(client, [mql], "lead", note="too early")

    assert any("Not moved" in m for m in messages_of(response))
    mql.refresh_from_db()
    assert mql.stage == "mql"


# --- stage transitions are read-only -------------------------------------------------------------


def test_stage_transition_admin_cannot_add(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/admin/leads/stagetransition/add/")

    assert response.status_code == 403


def test_stage_transition_admin_cannot_change_or_delete(client, admin_user, lead):
    # given
    client.force_login(admin_user)
    transition = lead.transitions.get()
    base = f"/admin/leads/stagetransition/{transition.pk}"

    # when
    view = client.get(f"{base}/change/")
    edit = client.post(f"{base}/change/", {"to_stage": "won", "note": "forged"})
    delete = client.post(f"{base}/delete/", {"post": "yes"})

    # then
    assert view.status_code == 200  # viewable
    assert edit.status_code == 403
    assert delete.status_code == 403
    transition.refresh_from_db()
    assert (transition.to_stage, transition.note) == ("lead", "")
    assert StageTransition.objects.filter(pk=transition.pk).exists()


def test_stage_transition_changelist_is_scoped_for_a_rep(client, staff_rep, pipeline):
    client.force_login(staff_rep)

    response = client.get("/admin/leads/stagetransition/")

    assert response.status_code == 200
    shown = {t.lead.email for t in response.context["cl"].result_list}
    assert shown == {"mql@example.com", "fresh@example.com"}


def test_lead_change_page_shows_the_transitions_inline(client, admin_user, lead):
    # given
    client.force_login(admin_user)
    lead = lead_move_to_stage(
        lead=lead, to_stage="mql", actor=admin_user, note="asked for the pricing sheet"
    )

    # when
    response = client.get(change_url(lead))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Stage transitions" in html
    assert "asked for the pricing sheet" in html
    inline = next(
        i for i in response.context["inline_admin_formsets"] if i.opts.model is StageTransition
    )
    assert len(list(inline)) == 2
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission


# --- editing and deleting leads ------------------------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser would submit for one form of a page."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.fields = []
        self._select = None
        self._option = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.in_form = attrs.get("id") == self.form_id
            return
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self._select = {"name": name, "multiple": "multiple" in attrs, "options": []}
        elif tag == "option" and self._select is not None:
            self._option = {
                "value": attrs.get("value"), "selected": "selected" in attrs, "text": ""
            }
            self._select["options"].append(self._option)
        elif tag == "textarea" and name:
            self._textarea = {"name": name, "text": ""}

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "option":
            self._option = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea["name"], self._textarea["text"].lstrip("\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            options = self._select["options"]
            chosen = [o for o in options if o["selected"]]
            if not chosen and options and not self._select["multiple"]:
                chosen = options[:1]
            for option in chosen:
                value = option["value"] if option["value"] is not None else option["text"]
                self.fields.append((self._select["name"], value))
            self._select = None


def form_data(html, form_id):
    parser = _FormFields(form_id)
    parser.feed(html)
    data = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return {name: values if len(values) > 1 else values[0] for name, values in data.items()}


def test_editing_a_leads_email_in_the_admin_saves_it_and_bumps_version(client, admin_user, lead):
    # given: the change form as the browser shows it, with its transitions inline
    client.force_login(admin_user)
    lead = put_in_stage(lead, "mql")
    page = client.get(change_url(lead))
    data = form_data(page.content.decode(), "lead_form")
    assert data["email"] == lead.email
    version_before = lead.version

    # when
    data["email"] = "renamed@example.com"
    response = client.post(change_url(lead), data)

    # then
    assert response.status_code == 302, response.context and response.context.get("errors")
    lead.refresh_from_db()
    assert lead.email == "renamed@example.com"
    assert lead.version == version_before + 1
    assert lead.stage == "mql"
    assert lead.transitions.count() == 2


def test_admin_refuses_to_overwrite_a_change_made_meanwhile(client, admin_user, lead):
    # given: the admin opens the form, then a rep changes the lead through the API's service
    from leads.services import lead_update

    client.force_login(admin_user)
    data = form_data(client.get(change_url(lead)).content.decode(), "lead_form")
    lead_update(lead=lead, actor=lead.owner, data={"job_title": "VP Sales"})

    # when: the admin saves the stale form
    data["phone"] = "+1 555 0100"
    response = client.post(change_url(lead), data)

    # then: the form says so and the rep's change survives
    assert response.status_code == 200
    assert "Someone else changed this lead" in response.content.decode()
    lead.refresh_from_db()
    assert (lead.job_title, lead.phone) == ("VP Sales", "")


def test_admin_refuses_an_email_taken_by_another_lead(client, admin_user, lead, lead_factory):
    client.force_login(admin_user)
    lead_factory(email="taken@example.com")
    data = form_data(client.get(change_url(lead)).content.decode(), "lead_form")

    data["email"] = "TAKEN@example.com"
    response = client.post(change_url(lead), data)

    assert response.status_code == 200  # the form again, with an error
    assert response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.email != "TAKEN@example.com"
    assert lead.version == 1


def test_staff_rep_edits_own_lead_but_cannot_reassign_it(client, staff_rep, other_rep, lead):
    # given
    client.force_login(staff_rep)
    data = form_data(client.get(change_url(lead)).content.decode(), "lead_form")
    assert "owner" not in data  # read-only for a rep

    # when
    data["phone"] = "+44 20 7946 0000"
    data["owner"] = str(other_rep.pk)
    response = client.post(change_url(lead), data)

    # then
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.phone == "+44 20 7946 0000"
    assert lead.owner == staff_rep


def test_adding_a_lead_in_the_admin_goes_through_the_service(client, staff_rep):
    # given
    client.force_login(staff_rep)
    data = form_data(client.get(f"{CHANGELIST}add/").content.decode(), "lead_form")

    # when
    data.update(
        {"email": "walk-in@example.com", "first_name": "Walk", "first_touch_channel": "events"}
    )
    response = client.post(f"{CHANGELIST}add/", data)

    # then
    assert response.status_code == 302
    lead = Lead.objects.get(email="walk-in@example.com")
    assert lead.owner == staff_rep
    assert lead.stage == "lead"
    assert [(t.to_stage, t.actor_user) for t in lead.transitions.all()] == [("lead", staff_rep)]


def test_lead_cannot_be_deleted_in_the_admin(client, admin_user, lead):
    client.force_login(admin_user)

    get = client.get(f"{CHANGELIST}{lead.pk}/delete/")
    post = client.post(f"{CHANGELIST}{lead.pk}/delete/", {"post": "yes"})

    assert get.status_code == 403
    assert post.status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_bulk_delete_action_is_not_offered_for_leads(client, admin_user, lead):
    client.force_login(admin_user)

    page = client.get(CHANGELIST)
    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [lead.pk], "post": "yes"}
    )

    assert "delete_selected" not in page.content.decode()
    assert response.status_code in (200, 302)
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_rep_without_staff_flag_cannot_enter_the_admin(client, rep, lead):
    client.force_login(rep)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_marketer_staff_sees_every_lead(client, pipeline):
    marketer = UserFactory(username="mkt-staff", role=roles.MARKETER, is_staff=True)
    client.force_login(marketer)

    response = client.get(CHANGELIST)

    assert listed_emails(response) == {"mql@example.com", "fresh@example.com", "theirs@example.com"}


def test_activity_form_does_not_reveal_another_reps_lead(client, staff_rep, other_rep,
                                                         lead_factory):
    # given: a lead of another rep, whose name must stay hidden
    secret = lead_factory(owner=other_rep, first_name="Secret", last_name="Person")
    client.force_login(staff_rep)

    # when: the rep posts an activity for it by id
    response = client.post(
        "/admin/leads/activity/add/",
        {"lead": secret.pk, "type": "call", "at_0": "2026-01-01", "at_1": "10:00", "payload": "{}"},
    )

    # then: the id is refused like one that does not exist, and the name is not shown
    body = response.content.decode()
    assert response.status_code == 200
    assert "Secret Person" not in body
    assert "Select a valid choice" in body
    assert not secret.activities.exists()

"""The pipeline board (/leads/board/) and the lead page (/leads/<id>/) through the browser's door:
the columns, their counts and deal totals, filters, load more, moves (forward, exits with a reason,
version conflicts, backward refusals), a rep's scope, the lead page's panels and forms, and the
number of queries each page runs."""

from datetime import timedelta
from decimal import Decimal
from functools import partial
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from leads import views_lead
from leads.actors import SystemActor
from leads.models import Activity, Lead, StageTransition
from leads.scoring.models import ScoringRule
from leads.services import activity_create, lead_move_to_stage
from leads.stages import FUNNEL, REACHED_FIELD, funnel_index
from leads.timeline import lead_timeline

pytestmark = pytest.mark.django_db

BOARD = "/leads/board/"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


# --- a small HTML reader (no parser library in the project) ---------------------------------


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, attr, value=None) -> list["Node"]:
        return [n for n in self.iter() if attr in n.attrs
                and (value is None or n.attrs[attr] == value)]

    def find(self, attr, value=None) -> "Node":
        found = self.find_all(attr, value)
        assert found, f"no element with {attr}={value!r}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root = self.current = Node("root", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, [(k, v if v is not None else "") for k, v in attrs], self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def dom(response) -> Node:
    builder = _Builder()
    builder.feed(response.content.decode())
    return builder.root


def column(page: Node, stage: str) -> dict:
    head = page.find("data-col-head", stage)
    section = page.find("data-column", stage)
    cards = section.find_all("data-card")
    return {
        "count": int(head.find("data-count").text),
        "amount": head.find("data-amount").text,
        "ids": [int(c.attrs["data-lead"]) for c in cards],
        "more": section.find_all("data-more"),
    }


# --- data -------------------------------------------------------------------------------------


def bulk_leads(n, *, owners, stage="lead", amount=None, campaign=None, channel="other", score=0,
               prefix="bulk", newest=None):
    """n leads straight into the table, newest last in the list (i-th created i days before
    `newest`): many leads quickly, for counts, pages and query bounds."""
    newest = newest or timezone.now() - timedelta(hours=1)
    rows = []
    for i in range(n):
        at = newest - timedelta(days=n - 1 - i)
        dates = {REACHED_FIELD[s]: at for s in FUNNEL[1: funnel_index(stage) + 1]}
        rows.append(Lead(
            email=f"{prefix}-{stage}-{i}@bulk.example", first_name="Bulk", last_name=f"{stage} {i}",
            owner=owners[i % len(owners)], stage=stage, deal_amount=amount, score=score,
            first_touch_channel=channel, last_touch_channel=channel,
            first_touch_campaign=campaign, became_lead_at=at, **dates,
        ))
    return Lead.objects.bulk_create(rows)


def moved(lead, *stages):
    for stage in stages:
        lead_move_to_stage(lead=lead, to_stage=stage, actor=SystemActor.SYSTEM)
    lead.refresh_from_db()
    return lead


def move(client, lead, to_stage, *, version=None, query="", **extra):
    version = lead.version if version is None else version
    url = f"/leads/board/{lead.pk}/move/" + (f"?{query}" if query else "")
    return client.post(url, {"to_stage": to_stage, "version": version, **extra})


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


# --- the board --------------------------------------------------------------------------------


def test_home_sends_users_to_the_board(rep_client):
    response = rep_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == BOARD


def test_board_has_a_column_per_open_stage_with_its_count_and_deal_total(
    manager_client, rep, other_rep, lead_factory
):
    a = lead_factory(owner=rep, deal_amount=Decimal("1000.00"))
    b = lead_factory(owner=other_rep, deal_amount=Decimal("2500.50"))
    c = moved(lead_factory(owner=rep, deal_amount=Decimal("12000")), "mql")
    d = moved(lead_factory(owner=rep), "mql", "sql")
    moved(lead_factory(owner=rep, deal_amount=Decimal("99999")), "mql", "sql", "opportunity",
          "won")
    lead_move_to_stage(lead=lead_factory(owner=rep), to_stage="disqualified", reason="Student",
                       actor=SystemActor.SYSTEM)

    response = manager_client.get(BOARD)

    assert response.status_code == 200
    page = dom(response)
    assert [s.attrs["data-column"] for s in page.find_all("data-column")] == [
        "lead", "mql", "sql", "opportunity"]
    lead_col, mql_col = column(page, "lead"), column(page, "mql")
    assert (lead_col["count"], lead_col["amount"]) == (2, "3,501")
    assert sorted(lead_col["ids"]) == sorted([a.pk, b.pk])
    assert (mql_col["count"], mql_col["amount"], mql_col["ids"]) == (1, "12,000", [c.pk])
    assert column(page, "sql")["ids"] == [d.pk]
    assert column(page, "sql")["amount"] == "0"
    assert column(page, "opportunity")["count"] == 0
    assert "No leads in this stage" not in response.content.decode()  # drawn by CSS, not text
    # the won and the disqualified lead are not on the board
    assert len(page.find_all("data-card")) == 4


def test_a_card_shows_name_company_owner_score_amount_and_days_in_stage(rep_client, rep,
                                                                          lead_factory):
    lead = lead_factory(owner=rep, first_name="Grace", last_name="Hopper", job_title="CTO",
                        deal_amount=Decimal("4200"))
    rep.first_name, rep.last_name = "Rita", "Rep"
    rep.save()
    # entered mql 3 days ago
    lead_move_to_stage(lead=lead, to_stage="mql", actor=SystemActor.SYSTEM,
                       at=timezone.now() - timedelta(days=3, hours=2))

    card = dom(rep_client.get(BOARD)).find("data-lead", str(lead.pk))

    assert card.attrs["data-stage"] == "mql"
    text = card.text
    assert "Grace Hopper" in text
    assert lead.account.name in text
    assert "CTO" in text
    assert card.find("data-owner").text == "Rita Rep"
    assert card.find("data-card-amount").text == "4,200"
    assert card.find("data-days").text == "3 d"
    assert card.find("data-score").text == str(lead.score)
    assert card.find("href").attrs["href"] == f"/leads/{lead.pk}/"


def test_counts_and_totals_cover_every_filtered_lead_not_just_the_cards_shown(
    manager_client, rep, other_rep
):
    bulk_leads(30, owners=[rep, other_rep], amount=Decimal("100"))

    page = dom(manager_client.get(BOARD))

    lead_col = column(page, "lead")
    assert lead_col["count"] == 30
    assert lead_col["amount"] == "3,000"
    assert len(lead_col["ids"]) == 25  # the newest 25 are shown
    assert lead_col["more"], "a Load more button"


def test_load_more_continues_the_column_newest_first_without_repeats(manager_client, rep):
    leads = bulk_leads(57, owners=[rep])
    newest_first = [lead.pk for lead in reversed(leads)]

    page = dom(manager_client.get(BOARD))
    shown = column(page, "lead")["ids"]
    more_url = column(page, "lead")["more"][0].find("hx-get").attrs["hx-get"]
    second = dom(manager_client.get(more_url))
    second_ids = [int(c.attrs["data-lead"]) for c in second.find_all("data-card")]
    third_url = second.find("data-more").find("hx-get").attrs["hx-get"]
    third = dom(manager_client.get(third_url))
    third_ids = [int(c.attrs["data-lead"]) for c in third.find_all("data-card")]

    assert shown + second_ids + third_ids == newest_first
    assert (len(shown), len(second_ids), len(third_ids)) == (25, 25, 7)
    assert third.find_all("data-more") == [], "no button once the column is complete"


def test_load_more_keeps_the_filters(manager_client, rep, other_rep):
    bulk_leads(60, owners=[rep, other_rep])

    page = dom(manager_client.get(BOARD, {"owner": rep.pk}))
    more_url = column(page, "lead")["more"][0].find("hx-get").attrs["hx-get"]
    more = dom(manager_client.get(more_url))

    assert f"owner={rep.pk}" in more_url
    ids = [int(c.attrs["data-lead"]) for c in more.find_all("data-card")]
    assert len(ids) == 5
    assert set(Lead.objects.filter(pk__in=ids).values_list("owner", flat=True)) == {rep.pk}


def test_filters_by_owner_channel_campaign_and_score_range(
    manager_client, rep, other_rep, campaign_factory
):
    campaign = campaign_factory(name="Spring webinar")
    mine = bulk_leads(3, owners=[rep], amount=Decimal("10"), prefix="mine", score=20)
    theirs = bulk_leads(2, owners=[other_rep], amount=Decimal("10"), prefix="theirs", score=60,
                        channel="paid_social", campaign=campaign)

    by_owner = column(dom(manager_client.get(BOARD, {"owner": rep.pk})), "lead")
    by_channel = column(dom(manager_client.get(BOARD, {"channel": "paid_social"})), "lead")
    by_campaign = column(dom(manager_client.get(BOARD, {"campaign": campaign.pk})), "lead")
    by_score = column(dom(manager_client.get(BOARD, {"score_min": 50, "score_max": 70})), "lead")
    below = column(dom(manager_client.get(BOARD, {"score_max": 19})), "lead")

    assert (by_owner["count"], sorted(by_owner["ids"])) == (3, sorted(x.pk for x in mine))
    assert by_owner["amount"] == "30"
    assert sorted(by_channel["ids"]) == sorted(x.pk for x in theirs)
    assert sorted(by_campaign["ids"]) == sorted(x.pk for x in theirs)
    assert (by_score["count"], sorted(by_score["ids"])) == (2, sorted(x.pk for x in theirs))
    assert below["count"] == 0


def test_filter_form_keeps_its_choices_and_names_a_bad_score_range(manager_client, rep,
                                                                    campaign_factory):
    campaign = campaign_factory(name="Spring webinar")

    response = manager_client.get(BOARD, {"campaign": campaign.pk, "score_min": 80,
                                          "score_max": 10})

    html = response.content.decode()
    assert f'<option value="{campaign.pk}" selected>Spring webinar</option>' in html
    errors = dom(response).find("data-filter-errors").text
    assert "Score to: Score to (10) must be at least score from (80)." in errors
    assert 'name="score_min" value="80"' in html


def test_rep_sees_only_their_own_leads_and_no_owner_filter(rep_client, rep, other_rep):
    mine = bulk_leads(2, owners=[rep], prefix="mine")
    bulk_leads(4, owners=[other_rep], prefix="theirs")

    response = rep_client.get(BOARD)

    page = dom(response)
    assert sorted(column(page, "lead")["ids"]) == sorted(x.pk for x in mine)
    assert column(page, "lead")["count"] == 2
    assert 'name="owner"' not in response.content.decode()
    # asking for another rep's leads by the owner filter shows nothing of theirs
    assert column(dom(rep_client.get(BOARD, {"owner": other_rep.pk})), "lead")["count"] == 0


# --- moves from the board ------------------------------------------------------------------


def test_dragging_a_card_forward_moves_the_lead_and_updates_the_headers(rep_client, rep,
                                                                        lead_factory):
    lead = lead_factory(owner=rep, deal_amount=Decimal("700"))
    lead_factory(owner=rep, deal_amount=Decimal("300"))

    response = move(rep_client, lead, "mql")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.stage == "mql"
    last = StageTransition.objects.filter(lead=lead).first()
    assert (last.from_stage, last.to_stage, last.actor_user) == ("lead", "mql", rep)
    page = dom(response)
    card = page.find("data-card")
    assert (card.attrs["data-stage"], card.attrs["data-version"]) == ("mql", str(lead.version))
    heads = {h.attrs["data-col-head"]: h for h in page.find_all("data-col-head")}
    assert all(h.attrs["hx-swap-oob"] == "true" for h in heads.values())
    assert heads["lead"].find("data-count").text == "1"
    assert heads["lead"].find("data-amount").text == "300"
    assert heads["mql"].find("data-count").text == "1"
    assert heads["mql"].find("data-amount").text == "700"
    assert "moved to MQL" in page.find("data-move-message").text


def test_move_headers_follow_the_boards_filters(manager_client, rep, other_rep, lead_factory):
    lead = lead_factory(owner=rep)
    lead_factory(owner=other_rep)

    response = move(manager_client, lead, "mql", query=f"owner={rep.pk}")

    heads = {h.attrs["data-col-head"]: h for h in dom(response).find_all("data-col-head")}
    assert heads["lead"].find("data-count").text == "0"  # the other rep's lead is filtered out
    assert heads["mql"].find("data-count").text == "1"


def test_an_exit_needs_a_reason_and_takes_the_card_off_the_board(rep_client, rep, lead_factory):
    lead = lead_factory(owner=rep)

    refused = move(rep_client, lead, "disqualified")
    lead.refresh_from_db()
    assert refused.status_code == 400
    assert lead.stage == "lead"
    message = dom(refused).find("data-move-message")
    assert message.attrs["data-rule"] == "reason_required"
    assert "Marking a lead disqualified needs a reason." in message.text

    response = move(rep_client, lead, "disqualified", reason="Not in our target market")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.stage, lead.exit_reason) == ("disqualified", "Not in our target market")
    page = dom(response)
    assert page.find("data-card").attrs.get("data-gone") == ""
    assert page.find("data-col-head", "lead").find("data-count").text == "0"


def test_lost_from_opportunity_with_a_reason(manager_client, rep, lead_factory):
    lead = moved(lead_factory(owner=rep, deal_amount=Decimal("5000")), "mql", "sql",
                 "opportunity")

    response = move(manager_client, lead, "lost", reason="Chose a competitor")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.stage, lead.exit_reason) == ("lost", "Chose a competitor")
    assert dom(response).find("data-col-head", "opportunity").find("data-amount").text == "0"


def test_a_version_conflict_is_explained_and_the_card_shows_the_lead_as_it_is(
    rep_client, rep, lead_factory
):
    lead = lead_factory(owner=rep)
    stale = lead.version
    moved(Lead.objects.get(pk=lead.pk), "mql", "sql")  # someone else, meanwhile

    response = move(rep_client, lead, "mql", version=stale)

    assert response.status_code == 409
    lead.refresh_from_db()
    assert lead.stage == "sql", "nothing moved"
    assert StageTransition.objects.filter(lead=lead).count() == 3
    page = dom(response)
    card = page.find("data-card")
    assert card.attrs["data-stage"] == "sql"  # board.js puts it in the SQL column
    assert card.attrs["data-version"] == str(lead.version)
    assert "was changed by someone else" in page.find("data-move-message").text
    assert response["X-Board-Move"] == "1"


def test_a_backward_move_without_the_right_is_refused_naming_the_rule(rep_client, rep,
                                                                      lead_factory):
    lead = moved(lead_factory(owner=rep), "mql")

    response = move(rep_client, lead, "lead", note="Went cold")

    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.stage == "mql"
    page = dom(response)
    assert page.find("data-card").attrs["data-stage"] == "mql"  # the card goes back
    message = page.find("data-move-message")
    assert message.attrs["data-rule"] == "backward_move_not_permitted"
    assert "Moving a lead back from MQL to Lead needs the permission to move leads backward" in (
        message.text)


def test_a_manager_moves_back_with_a_note(manager_client, rep, lead_factory):
    lead = moved(lead_factory(owner=rep), "mql", "sql")

    without_note = move(manager_client, lead, "mql")
    response = move(manager_client, lead, "mql", note="Budget frozen until Q3")

    assert without_note.status_code == 400
    assert dom(without_note).find("data-move-message").attrs["data-rule"] == (
        "backward_move_requires_note")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert lead.became_sql_at is not None, "first-reached dates are kept"


def test_a_rep_cannot_move_another_reps_lead(rep_client, other_rep, lead_factory):
    theirs = lead_factory(owner=other_rep)

    response = move(rep_client, theirs, "mql")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.stage == "lead"


def test_board_pages_refuse_get_and_unknown_columns(rep_client, rep, lead_factory):
    lead = lead_factory(owner=rep)

    assert rep_client.get(f"/leads/board/{lead.pk}/move/").status_code == 405
    assert rep_client.get("/leads/board/won/more/").status_code == 404


# --- query counts -----------------------------------------------------------------------------


def _many(rep, other_rep, manager, campaign):
    for i, stage in enumerate(["lead", "mql", "sql", "opportunity"]):
        bulk_leads(40, owners=[rep, other_rep, manager], stage=stage, amount=Decimal(i + 1),
                   campaign=campaign, prefix=f"q{Lead.objects.count()}", score=10 * i)


@pytest.mark.parametrize("params", [{}, "all"])
def test_board_runs_at_most_8_queries_whatever_the_data(
    manager_client, rep, other_rep, manager, campaign_factory, django_assert_max_num_queries,
    params
):
    campaign = campaign_factory()
    _many(rep, other_rep, manager, campaign)
    if params == "all":
        params = {"owner": rep.pk, "campaign": campaign.pk, "channel": "other", "score_min": 0,
                  "score_max": 100, "q": "Bulk"}

    with django_assert_max_num_queries(8):
        response = manager_client.get(BOARD, params)
    assert response.status_code == 200
    assert len(dom(response).find_all("data-card")) > 50

    _many(rep, other_rep, manager, campaign)  # twice the data, same bound
    with django_assert_max_num_queries(8):
        response = manager_client.get(BOARD, params)
    assert column(dom(response), "lead")["count"] == (80 if params == {} else 28)


def test_load_more_and_a_move_run_a_bounded_number_of_queries(
    manager_client, rep, other_rep, manager, campaign_factory, django_assert_max_num_queries
):
    _many(rep, other_rep, manager, campaign_factory())
    page = dom(manager_client.get(BOARD))
    more_url = column(page, "mql")["more"][0].find("hx-get").attrs["hx-get"]
    lead = Lead.objects.filter(owner=rep, stage="lead").first()

    with django_assert_max_num_queries(6):
        assert manager_client.get(more_url).status_code == 200
    # a move: the service's own reads and writes (lock, transition, rescore, KPI days) included
    with django_assert_max_num_queries(30):
        assert move(manager_client, lead, "mql").status_code == 200


# --- the lead page ----------------------------------------------------------------------------


def test_lead_page_shows_fields_stage_dates_owner_account_and_attribution(
    rep_client, rep, lead_factory, campaign_factory
):
    campaign = campaign_factory(name="Spring webinar", channel="paid_social")
    lead = lead_factory(owner=rep, first_name="Grace", last_name="Hopper", job_title="CTO",
                        phone="+49 30 123", campaign=campaign, cta="Pricing guide",
                        deal_amount=Decimal("4200.50"))
    mql_at = timezone.now() - timedelta(days=2)
    lead_move_to_stage(lead=lead, to_stage="sql", actor=SystemActor.SYSTEM, at=mql_at)

    response = rep_client.get(f"/leads/{lead.pk}/")

    assert response.status_code == 200
    page = dom(response)
    assert page.find("data-lead-name").text == "Grace Hopper"
    assert page.find("data-lead-stage").text == "SQL"
    reached = {li.attrs["data-reached"]: li.text for li in page.find_all("data-reached")}
    local = timezone.localtime(mql_at).strftime("%Y-%m-%d %H:%M")
    assert local in reached["mql"]
    assert local in reached["sql"]
    assert "not yet" in reached["opportunity"]
    assert "not yet" in reached["won"]
    assert page.find("data-owner").text == "rep1"
    assert page.find("data-account").text == lead.account.name
    attribution = page.find("data-attribution").text
    assert "Paid social · Spring webinar" in attribution
    assert "Pricing guide" in attribution
    html = response.content.decode()
    assert "+49 30 123" in html
    assert "4,200.50" in html
    assert lead.email in html


def test_timeline_merges_transitions_and_activities_newest_first(rep_client, rep, lead_factory):
    now = timezone.now()
    lead = lead_factory(owner=rep, at=now - timedelta(days=10))
    activity_create(lead=lead, type="call", actor=rep, at=now - timedelta(days=8),
                    payload={"note": "Left a voicemail"})
    lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, at=now - timedelta(days=6))
    activity_create(lead=lead, type="meeting", actor=rep, at=now - timedelta(days=4))
    lead_move_to_stage(lead=lead, to_stage="disqualified", reason="No budget", actor=rep,
                       at=now - timedelta(days=1))

    timeline = dom(rep_client.get(f"/leads/{lead.pk}/")).find("data-timeline")

    entries = [li.find("data-entry").text for li in timeline.find_all("data-kind")]
    assert entries == [
        "Moved from MQL to Disqualified", "Meeting", "Moved from Lead to MQL", "Call",
        "Created as Lead",
    ]
    text = timeline.text
    assert "Reason: No budget" in text
    assert "Left a voicemail" in text
    assert "by rep1" in text


def test_timeline_lists_the_newest_entries_and_says_when_older_ones_are_hidden(
    rep_client, rep, lead_factory
):
    # given: four calls, then a move, then a meeting (with "Created as Lead": seven entries)
    now = timezone.now()
    lead = lead_factory(owner=rep, at=now - timedelta(days=10))
    for day in (9, 8, 7, 6):
        activity_create(lead=lead, type="call", actor=rep, at=now - timedelta(days=day))
    lead_move_to_stage(lead=lead, to_stage="mql", actor=rep, at=now - timedelta(days=2))
    activity_create(lead=lead, type="meeting", actor=rep, at=now - timedelta(days=1))
    # when / then: the newest three of both kinds together, and a flag for the rest
    three = lead_timeline(lead=lead, limit=3)
    assert [(e.kind, e.at) for e in three.entries] == [
        ("activity", now - timedelta(days=1)), ("transition", now - timedelta(days=2)),
        ("activity", now - timedelta(days=6)),
    ]
    assert three.older_hidden
    everything = lead_timeline(lead=lead, limit=7)
    assert (len(everything.entries), everything.older_hidden) == (7, False)
    page = dom(rep_client.get(f"/leads/{lead.pk}/"))
    assert len(page.find("data-timeline").find_all("data-kind")) == 7
    assert page.find_all("data-timeline-older") == []


def test_the_lead_page_says_when_older_timeline_entries_are_hidden(
    monkeypatch, rep_client, rep, lead_factory
):
    lead = lead_factory(owner=rep)
    for _ in range(3):
        activity_create(lead=lead, type="call", actor=rep)
    monkeypatch.setattr(views_lead, "lead_timeline", partial(lead_timeline, limit=2))

    page = dom(rep_client.get(f"/leads/{lead.pk}/"))

    assert len(page.find("data-timeline").find_all("data-kind")) == 2
    assert "Only the latest 2 entries are shown" in page.find("data-timeline-older").text


def test_move_form_moves_and_says_so(rep_client, rep, lead_factory):
    lead = lead_factory(owner=rep)

    response = rep_client.post(f"/leads/{lead.pk}/move/",
                               {"to_stage": "mql", "version": lead.version}, follow=True)

    lead.refresh_from_db()
    assert lead.stage == "mql"
    assert response.redirect_chain[-1][0] == f"/leads/{lead.pk}/"
    page = dom(response)
    assert page.find("data-lead-stage").text == "MQL"
    assert "moved to MQL" in response.content.decode()
    assert page.find("data-timeline").find("data-entry").text == "Moved from Lead to MQL"


def test_move_form_names_the_field_and_the_rule_on_a_refusal(rep_client, rep, lead_factory):
    lead = moved(lead_factory(owner=rep), "mql")

    no_reason = rep_client.post(f"/leads/{lead.pk}/move/",
                                {"to_stage": "disqualified", "version": lead.version})
    backward = rep_client.post(f"/leads/{lead.pk}/move/",
                               {"to_stage": "lead", "version": lead.version, "note": "x"})

    assert no_reason.status_code == 400
    error = dom(no_reason).find("data-field-error", "reason")
    assert "Reason: Marking a lead disqualified needs a reason." in error.text
    assert backward.status_code == 400
    errors = dom(backward).find("data-move-errors")
    assert "needs the permission to move leads backward" in errors.text
    assert errors.find("data-rule").attrs["data-rule"] == "backward_move_not_permitted"
    lead.refresh_from_db()
    assert lead.stage == "mql"


def test_move_form_reports_a_conflict_and_shows_the_current_state(rep_client, rep,
                                                                   lead_factory):
    lead = lead_factory(owner=rep)
    stale = lead.version
    moved(Lead.objects.get(pk=lead.pk), "mql")

    response = rep_client.post(f"/leads/{lead.pk}/move/", {"to_stage": "sql", "version": stale})

    assert response.status_code == 409
    page = dom(response)
    assert "someone else changed this lead" in page.find("data-conflict").text
    assert page.find("data-lead-stage").text == "MQL"
    lead.refresh_from_db()
    assert lead.stage == "mql"
    # the form now carries the current version: sending it again applies the move
    assert f'name="version" value="{lead.version}"' in response.content.decode()


def test_activity_form_logs_an_activity(rep_client, rep, lead_factory):
    lead = lead_factory(owner=rep)

    response = rep_client.post(f"/leads/{lead.pk}/activities/",
                               {"type": "call", "note": "Interested in the pro plan"},
                               follow=True)

    activity = Activity.objects.get(lead=lead)
    assert (activity.type, activity.actor_user, activity.payload) == (
        "call", rep, {"note": "Interested in the pro plan"})
    timeline = dom(response).find("data-timeline")
    assert timeline.find("data-entry").text == "Call"
    assert "Interested in the pro plan" in timeline.text
    assert "Call logged." in response.content.decode()


def test_activity_form_refuses_a_future_date_naming_the_field(rep_client, rep, lead_factory):
    lead = lead_factory(owner=rep)
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    response = rep_client.post(f"/leads/{lead.pk}/activities/", {"type": "call", "at": future})

    assert response.status_code == 400
    assert "When: An activity cannot be dated in the future." in dom(response).find(
        "data-field-error", "at").text
    assert not Activity.objects.filter(lead=lead).exists()


def test_score_panel_lists_rule_by_rule_why_the_lead_has_its_score(rep_client, rep,
                                                                   lead_factory):
    ScoringRule.objects.create(name="Decision maker", kind="fit", field="job_title",
                               operator="contains", value="head", points=15)
    ScoringRule.objects.create(name="Demo requested", kind="engagement",
                               activity_type="demo_requested", points=30, cap=60)
    ScoringRule.objects.create(name="Free mail", kind="fit", field="email_domain",
                               operator="in", value="gmail.com", points=-10)
    lead = lead_factory(owner=rep, job_title="Head of Sales", email="grace@gmail.com")
    activity_create(lead=lead, type="demo_requested", actor=rep)
    lead.refresh_from_db()

    panel = dom(rep_client.get(f"/leads/{lead.pk}/")).find("data-score-panel")

    rows = [" ".join(r.text.split()) for r in panel.find_all("data-score-item")]
    assert len(rows) == 3
    assert rows[0].startswith("Demo requested")
    assert rows[0].endswith("+30")
    assert "Demo requested × 1, +30 each, decaying, capped at 60" in rows[0]
    assert rows[1].startswith("Decision maker")
    assert "Job title contains (any case) head" in rows[1]
    assert rows[2].startswith("Free mail")
    assert rows[2].endswith("-10")
    assert panel.find("data-score").text == str(lead.score) == "35"


def test_another_reps_lead_is_a_404_on_every_lead_page_door(rep_client, other_rep,
                                                            lead_factory):
    theirs = lead_factory(owner=other_rep)

    assert rep_client.get(f"/leads/{theirs.pk}/").status_code == 404
    assert rep_client.post(f"/leads/{theirs.pk}/move/",
                           {"to_stage": "mql", "version": theirs.version}).status_code == 404
    assert rep_client.post(f"/leads/{theirs.pk}/activities/",
                           {"type": "call"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.stage == "lead"
    assert not Activity.objects.filter(lead=theirs).exists()


def test_lead_page_runs_a_bounded_number_of_queries(rep_client, rep, lead_factory,
                                                    django_assert_max_num_queries):
    lead = lead_factory(owner=rep)
    for i in range(15):
        activity_create(lead=lead, type="call", actor=rep,
                        at=timezone.now() - timedelta(hours=20 - i))
    moved(lead, "mql", "sql")

    # base page (5) + the lead, its score breakdown, transitions, activities, scoring thresholds
    with django_assert_max_num_queries(10):
        response = rep_client.get(f"/leads/{lead.pk}/")
    assert response.status_code == 200
    assert len(dom(response).find_all("data-kind")) == 15 + 3


def test_the_api_filters_by_score_range(rep, api_as):
    bulk_leads(3, owners=[rep], score=10, prefix="low")
    high = bulk_leads(2, owners=[rep], score=70, prefix="high")

    response = api_as(rep).get("/api/v1/leads/", {"score_min": 50, "score_max": 80})

    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(x.pk for x in high)

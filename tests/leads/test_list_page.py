"""The lead list page (/leads/), its saved views and its CSV export, through the browser's door:
Django's test client, signed in as each role."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.attribution import touch_resolve
from leads import roles
from leads.actors import SystemActor
from leads.models import Lead, SavedLeadView
from leads.services import activity_create, lead_move_to_stage, lead_touch_record
from leads.views_list import PER_PAGE
from tests.factories import CampaignFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/leads/"
EXPORT_URL = "/leads/export.csv"
VIEWS_URL = "/leads/views/"


def row_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-lead="(\d+)"', response.content.decode())]


def shown(response, trio) -> list[str]:
    """The trio's keys (a, b, c) in the order the table shows them."""
    names = {lead.pk: key for key, lead in trio.items()}
    return [names[pk] for pk in row_ids(response) if pk in names]


def total(response) -> int:
    return int(re.search(r'data-total="(\d+)"', response.content.decode()).group(1))


def export_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def signed_in(client, user):
    client.force_login(user)
    return client


def days_ago(days):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def owners(db):
    return {
        "abe": UserFactory(username="abe", first_name="Abe", last_name="Ames",
                           role=roles.SALES_REP),
        "bea": UserFactory(username="bea", first_name="Bea", last_name="Bell",
                           role=roles.SALES_REP),
        "cal": UserFactory(username="cal", first_name="Cal", last_name="Cole",
                           role=roles.SALES_REP),
    }


@pytest.fixture
def trio(owners):
    """Three leads whose every column sorts in a different order (see each test's expectation):

    | key | name   | company | stage       | owner | score | amount | channel     | campaign   | created | last activity |
    | a   | Archer | Crest   | opportunity | Bea   | 30    | 500    | paid_search | Beta camp  | 10 d    | 5 d ago       |
    | b   | Baker  | Acme    | lead        | Cal   | 10    | none   | email       | none       | 30 d    | none          |
    | c   | Carter | Bolt    | mql         | Abe   | 20    | 100    | paid_social | Alpha camp | 20 d    | 1 d ago       |
    """  # noqa: E501
    from tests.factories import AccountFactory

    beta = CampaignFactory(name="Beta camp", channel="paid_search")
    alpha = CampaignFactory(name="Alpha camp", channel="paid_social")
    leads = {
        "a": LeadFactory(email="archer@example.com", first_name="Ann", last_name="Archer",
                         account=AccountFactory(name="Crest"), owner=owners["bea"],
                         campaign=beta, deal_amount=Decimal("500"), at=days_ago(10),
                         cta="Pricing guide"),
        "b": LeadFactory(email="baker@example.com", first_name="Bob", last_name="Baker",
                         account=AccountFactory(name="Acme"), owner=owners["cal"],
                         channel="email", at=days_ago(30), cta="Webinar"),
        "c": LeadFactory(email="carter@example.com", first_name="Cid", last_name="Carter",
                         account=AccountFactory(name="Bolt"), owner=owners["abe"],
                         campaign=alpha, deal_amount=Decimal("100"), at=days_ago(20)),
    }
    lead_move_to_stage(lead=leads["a"], to_stage="opportunity", actor=SystemActor.SYSTEM)
    lead_move_to_stage(lead=leads["c"], to_stage="mql", actor=SystemActor.SYSTEM)
    activity_create(lead=leads["a"], type="call", actor=SystemActor.SYSTEM, at=days_ago(5))
    activity_create(lead=leads["c"], type="call", actor=SystemActor.SYSTEM, at=days_ago(1))
    lead_touch_record(
        lead=leads["b"], touch=touch_resolve(channel="referral"), actor=SystemActor.SYSTEM,
    )
    # Scores come from the scoring rules; pin them so that the order is the table's above.
    for key, score in (("a", 30), ("b", 10), ("c", 20)):
        Lead.objects.filter(pk=leads[key].pk).update(score=score)
    return leads


# --- the table ----------------------------------------------------------------------------------


def test_list_shows_every_column_of_a_lead(client, manager, trio):
    response = signed_in(client, manager).get(LIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<tr data-lead="{trio["a"].pk}">(.*?)</tr>', html, re.S).group(1)
    for text in ("Ann Archer", "archer@example.com", "Crest", 'badge badge-opportunity',
                 "Opportunity", "Bea Bell", ">30<", ">500<", "Paid search", "Beta camp",
                 days_ago(10).strftime("%-d %b %Y"), days_ago(5).strftime("%-d %b %Y")):
        assert text in row, text
    assert f'<a href="/leads/{trio["a"].pk}/">Ann Archer</a>' in row
    row_b = re.search(rf'<tr data-lead="{trio["b"].pk}">(.*?)</tr>', html, re.S).group(1)
    assert ">None<" in row_b  # no activity yet
    assert "3</strong> leads" in html


def test_a_rep_sees_only_their_own_leads(client, owners, trio):
    response = signed_in(client, owners["bea"]).get(LIST_URL)

    assert row_ids(response) == [trio["a"].pk]
    assert total(response) == 1
    assert "The leads you own." in response.content.decode()
    # The owner filter is for those who see everyone's leads.
    assert 'name="owner"' not in response.content.decode()


def test_a_rep_filtering_by_another_owner_sees_nothing_of_theirs(client, owners, trio):
    response = signed_in(client, owners["bea"]).get(LIST_URL, {"owner": owners["cal"].pk})

    assert response.status_code == 200
    assert row_ids(response) == []
    assert "No leads match these filters." in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (LIST_URL, EXPORT_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "archer"}, ["a"]),
        ({"q": "BAKER@example"}, ["b"]),
        ({"q": "bolt"}, ["c"]),
        ({"q": "ann crest"}, ["a"]),  # every word, in any of the fields
        ({"q": "ann acme"}, []),
        ({"stage": "mql"}, ["c"]),
        ({"stage": ["lead", "opportunity"]}, ["a", "b"]),
        ({"channel": "email"}, ["b"]),
        ({"channel": ["paid_search", "paid_social"]}, ["a", "c"]),
        ({"last_touch_channel": "referral"}, ["b"]),
        ({"cta": "pricing guide"}, ["a"]),
        ({"score_min": "15"}, ["a", "c"]),
        ({"score_max": "20"}, ["b", "c"]),
        ({"score_min": "15", "score_max": "25"}, ["c"]),
        ({"stage": ["mql", "opportunity"], "channel": "paid_social"}, ["c"]),
    ],
)
def test_each_filter_narrows_the_rows(client, manager, trio, params, expected):
    response = signed_in(client, manager).get(LIST_URL, {**params, "sort": "name"})

    assert response.status_code == 200
    assert shown(response, trio) == expected
    assert total(response) == len(expected)


def test_filter_by_campaign_and_by_owner(client, manager, owners, trio):
    client = signed_in(client, manager)
    campaign = trio["c"].first_touch_campaign

    assert shown(client.get(LIST_URL, {"campaign": campaign.pk}), trio) == ["c"]
    assert shown(client.get(LIST_URL, {"owner": owners["cal"].pk}), trio) == ["b"]


def test_filter_unassigned_leads(client, manager, trio):
    unassigned = LeadFactory(email="nobody@example.com", owner=None)

    response = signed_in(client, manager).get(LIST_URL, {"owner": "null"})

    assert row_ids(response) == [unassigned.pk]
    assert '<option value="null" selected>Unassigned</option>' in response.content.decode()


def test_filter_form_shows_the_chosen_values(client, manager, owners, trio):
    response = signed_in(client, manager).get(
        LIST_URL, {"q": "arch", "stage": ["mql", "sql"], "owner": owners["abe"].pk}
    )

    html = response.content.decode()
    assert 'name="q" value="arch"' in html
    assert 'name="stage" value="mql" checked' in html
    assert 'name="stage" value="sql" checked' in html
    assert 'name="stage" value="lead">' in html
    assert f'<option value="{owners["abe"].pk}" selected>Abe Ames</option>' in html
    assert "Alpha camp</option>" in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"stage": "bogus"}, "Stage", "bogus is not one of the available choices"),
        ({"channel": "tv"}, "First-touch channel", "tv is not one of the available choices"),
        ({"owner": "abc"}, "Owner", "Select a valid choice"),
        ({"owner": "99999999999999999999999"}, "Owner", "Select a valid choice"),
        ({"campaign": "424242"}, "First-touch campaign", "Select a valid choice"),
        ({"score_min": "lots"}, "Score from", "Enter a number"),
    ],
)
def test_bad_filter_input_names_the_field_instead_of_failing(
    client, manager, trio, params, field, message
):
    response = signed_in(client, manager).get(LIST_URL, params)

    assert response.status_code == 200
    html = response.content.decode()
    assert "These filters cannot be applied" in html
    errors = re.search(r"data-filter-errors>(.*?)</div>", html, re.S).group(1)
    assert f"{field}: " in errors
    assert message in errors
    assert row_ids(response) == []
    assert 'aria-invalid="true"' in html


def test_filter_errors_name_their_field_after_the_api_schema_was_generated(
    client, manager, trio
):
    # The schema generator reads LeadFilter's own filters; the page's labels must survive it.
    assert signed_in(client, manager).get("/api/schema/").status_code == 200

    html = client.get(LIST_URL, {"stage": "bogus", "last_touch_channel": "tv", "owner": "x"})
    errors = re.search(r"data-filter-errors>(.*?)</div>", html.content.decode(), re.S).group(1)

    for label in ("Stage: ", "Last-touch channel: ", "Owner: "):
        assert label in errors


def test_bad_filter_input_in_the_export_is_a_400_naming_the_field(client, manager, trio):
    response = signed_in(client, manager).get(EXPORT_URL, {"stage": "bogus"})

    assert response.status_code == 400
    assert "Stage: Select a valid choice. bogus" in response.content.decode()


# --- sorting ------------------------------------------------------------------------------------


SORTS = {
    "name": ["a", "b", "c"],
    "company": ["b", "c", "a"],
    "stage": ["b", "c", "a"],
    "owner": ["c", "a", "b"],
    "score": ["b", "c", "a"],
    "channel": ["b", "a", "c"],
    "created": ["b", "c", "a"],
}
# Empty values go last whichever way the column is sorted.
SORTS_WITH_BLANKS = {
    "amount": (["c", "a", "b"], ["a", "c", "b"]),
    "campaign": (["c", "a", "b"], ["a", "c", "b"]),
    "last_activity": (["a", "c", "b"], ["c", "a", "b"]),
}


@pytest.mark.parametrize("key", SORTS)
def test_each_column_sorts_both_ways(client, manager, trio, key):
    client = signed_in(client, manager)

    ascending = client.get(LIST_URL, {"sort": key})
    descending = client.get(LIST_URL, {"sort": f"-{key}"})

    assert shown(ascending, trio) == SORTS[key]
    assert shown(descending, trio) == SORTS[key][::-1]


@pytest.mark.parametrize("key", SORTS_WITH_BLANKS)
def test_columns_with_blanks_sort_both_ways_with_blanks_last(client, manager, trio, key):
    client = signed_in(client, manager)
    expected_asc, expected_desc = SORTS_WITH_BLANKS[key]

    assert shown(client.get(LIST_URL, {"sort": key}), trio) == expected_asc
    assert shown(client.get(LIST_URL, {"sort": f"-{key}"}), trio) == expected_desc


def test_default_order_is_newest_first_and_unknown_sorts_fall_back_to_it(client, manager, trio):
    client = signed_in(client, manager)

    assert shown(client.get(LIST_URL), trio) == ["a", "c", "b"]
    assert shown(client.get(LIST_URL, {"sort": "password"}), trio) == ["a", "c", "b"]
    assert shown(client.get(LIST_URL, {"sort": "-owner__password"}), trio) == ["a", "c", "b"]


def test_sorted_header_has_aria_sort_and_links_to_the_other_direction(client, manager, trio):
    html = signed_in(client, manager).get(
        LIST_URL, {"sort": "score", "stage": "mql"}
    ).content.decode()

    score_th = re.search(r'<th scope="col" class="num" aria-sort="ascending">\s*<a href="([^"]+)"',
                         html)
    assert score_th, "the score header says it is sorted ascending"
    assert score_th.group(1).replace("&amp;", "&") == "?stage=mql&sort=-score"
    assert html.count("aria-sort=") == 1
    # Another column's first click: text ascending, figures and dates newest/highest first.
    assert 'href="?stage=mql&amp;sort=company"' in html
    assert 'href="?stage=mql&amp;sort=-amount"' in html


# --- pagination ---------------------------------------------------------------------------------


@pytest.fixture
def many_leads(owners):
    """PER_PAGE * 2 + 5 leads of Abe's, created a minute apart (newest: i = 0)."""
    now = timezone.now()
    return [
        LeadFactory(email=f"bulk{i:03d}@example.com", owner=owners["abe"], channel="email",
                    at=now - timedelta(minutes=i + 1))
        for i in range(PER_PAGE * 2 + 5)
    ]


def test_pagination_pages_through_every_lead_once(client, manager, many_leads):
    client = signed_in(client, manager)

    pages = [client.get(LIST_URL, {"page": n}) for n in (1, 2, 3)]

    ids = [pk for page in pages for pk in row_ids(page)]
    assert ids == [lead.pk for lead in many_leads]
    assert [len(row_ids(page)) for page in pages] == [PER_PAGE, PER_PAGE, 5]
    assert total(pages[1]) == len(many_leads)
    html = pages[1].content.decode()
    assert '<span aria-current="page">2</span>' in html
    assert f"{PER_PAGE + 1}–{PER_PAGE * 2} shown" in html


def test_pagination_links_keep_the_filters_and_the_sort(client, manager, many_leads):
    html = signed_in(client, manager).get(
        LIST_URL, {"channel": "email", "sort": "name", "page": 2}
    ).content.decode()

    assert 'href="?channel=email&amp;sort=name&amp;page=3" rel="next"' in html
    assert 'href="?channel=email&amp;sort=name&amp;page=1" rel="prev"' in html


def test_a_page_past_the_end_goes_to_the_last_page_and_nonsense_to_the_first(
    client, manager, many_leads
):
    client = signed_in(client, manager)

    past = client.get(LIST_URL, {"channel": "email", "page": 9})
    nonsense = client.get(LIST_URL, {"page": "abc"})

    assert past.status_code == 302
    assert past["Location"] == "/leads/?channel=email&page=3"
    assert row_ids(nonsense) == [lead.pk for lead in many_leads[:PER_PAGE]]


# --- query budget -------------------------------------------------------------------------------


@pytest.fixture
def crowd(owners):
    """Many leads of many owners and campaigns, with activities: what must not cost queries."""
    reps = [UserFactory(username=f"crowd{i}", role=roles.SALES_REP) for i in range(8)]
    campaigns = [CampaignFactory(name=f"Crowd {i}") for i in range(8)]
    leads = []
    for i in range(70):
        lead = LeadFactory(email=f"crowd{i}@example.com", owner=reps[i % 8],
                           campaign=campaigns[i % 8], deal_amount=Decimal(i * 10))
        if i % 3 == 0:
            activity_create(lead=lead, type="call", actor=SystemActor.SYSTEM)
        leads.append(lead)
    return {"reps": reps, "campaigns": campaigns, "leads": leads}


def test_list_page_runs_at_most_8_queries_whatever_the_data(
    client, manager, crowd, django_assert_max_num_queries
):
    client = signed_in(client, manager)
    SavedLeadView.objects.create(owner=manager, name="Mine", query="stage=mql")
    filtered = {"owner": crowd["reps"][1].pk, "campaign": crowd["campaigns"][1].pk,
                "stage": "lead", "q": "crowd", "sort": "-last_activity"}

    for params in ({}, {"sort": "stage", "page": 2}, filtered):
        with django_assert_max_num_queries(8):
            response = client.get(LIST_URL, params)
        assert response.status_code == 200
        assert row_ids(response)


def test_a_reps_list_page_runs_at_most_8_queries(client, crowd, django_assert_max_num_queries):
    rep = crowd["reps"][0]
    client = signed_in(client, rep)

    with django_assert_max_num_queries(8):
        response = client.get(LIST_URL, {"sort": "owner"})

    assert total(response) == 9  # 70 leads over 8 reps: leads 0, 8, ... 64


def test_htmx_results_fragment_is_bounded_too(
    client, manager, crowd, django_assert_max_num_queries
):
    client = signed_in(client, manager)
    params = {"owner": crowd["reps"][2].pk, "campaign": crowd["campaigns"][2].pk}

    with django_assert_max_num_queries(8):
        response = client.get(
            LIST_URL, params, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-results"
        )

    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="lead-results"')
    assert 'id="sort-input" value="-created" hx-swap-oob="true"' in html
    assert 'id="saved-views" class="saved-views" aria-label="Saved views" hx-swap-oob="true"' \
        in html
    assert len(row_ids(response)) == 9
    assert "HX-Request" in response["Vary"]
    # The address bar gets the list's state without the form's blank fields.
    assert response["HX-Push-Url"] == (
        f"/leads/?owner={params['owner']}&campaign={params['campaign']}"
    )


def test_export_runs_a_bounded_number_of_queries(
    client, manager, crowd, django_assert_max_num_queries
):
    client = signed_in(client, manager)

    with django_assert_max_num_queries(6):
        response = client.get(
            EXPORT_URL, {"owner": crowd["reps"][0].pk, "campaign": crowd["campaigns"][0].pk}
        )
        rows = export_rows(response)

    assert len(rows) == 1 + 9


# --- saved views --------------------------------------------------------------------------------


def test_saving_a_view_keeps_the_filters_and_sort_and_lists_it(client, manager, trio):
    client = signed_in(client, manager)

    response = client.post(
        VIEWS_URL, {"name": "  Hot   deals ", "query": "sort=-score&stage=opportunity&page=3&x=1"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/leads/?stage=opportunity&sort=-score"
    view = SavedLeadView.objects.get(owner=manager)
    assert (view.name, view.query) == ("Hot deals", "stage=opportunity&sort=-score")
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Saved the view &quot;Hot deals&quot;." in html
    assert '<a href="/leads/?stage=opportunity&amp;sort=-score" aria-current="true">Hot deals</a>' \
        in html
    assert shown(page, trio) == ["a"]


def test_a_saved_view_opens_the_list_it_saved(client, manager, trio):
    client = signed_in(client, manager)
    client.post(VIEWS_URL, {"name": "Paid", "query": "channel=paid_search&channel=paid_social"})

    html = client.get(LIST_URL).content.decode()
    href = re.search(r'<a href="([^"]+)">Paid</a>', html).group(1).replace("&amp;", "&")
    response = client.get(href)

    assert shown(response, trio) == ["a", "c"]
    assert "in <em>Paid</em>" in response.content.decode()


def test_view_names_are_unique_per_user_ignoring_case(client, manager, marketer, trio):
    client = signed_in(client, manager)
    client.post(VIEWS_URL, {"name": "Pipeline", "query": "stage=sql"})

    response = client.post(VIEWS_URL, {"name": "PIPELINE", "query": "stage=mql"})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'View name: You already have a view named &quot;PIPELINE&quot;. Pick another name.' \
        in html
    assert 'name="name" value="PIPELINE"' in html  # what was typed stays in the box
    assert SavedLeadView.objects.get(owner=manager).query == "stage=sql"
    # Another user may use the same name.
    other = signed_in(type(client)(), marketer).post(
        VIEWS_URL, {"name": "Pipeline", "query": ""}
    )
    assert other.status_code == 302
    assert SavedLeadView.objects.filter(name="Pipeline").count() == 2


def test_a_view_needs_a_name(client, manager):
    response = signed_in(client, manager).post(VIEWS_URL, {"name": "   ", "query": "stage=sql"})

    assert response.status_code == 400
    assert "View name: Give the view a name." in response.content.decode()
    assert not SavedLeadView.objects.exists()


def test_a_user_never_sees_another_users_views(client, manager, marketer, owners, trio):
    SavedLeadView.objects.create(owner=marketer, name="Marketing secret", query="stage=mql")
    SavedLeadView.objects.create(owner=manager, name="Manager's own", query="stage=sql")

    html = signed_in(client, manager).get(LIST_URL).content.decode()

    assert "Manager&#x27;s own" in html
    assert "Marketing secret" not in html


def test_deleting_a_view_removes_it_and_only_the_owner_may(client, manager, marketer, trio):
    mine = SavedLeadView.objects.create(owner=manager, name="Old", query="stage=mql")
    theirs = SavedLeadView.objects.create(owner=marketer, name="Theirs", query="")
    client = signed_in(client, manager)

    forbidden = client.post(f"{VIEWS_URL}{theirs.pk}/delete/")
    deleted = client.post(f"{VIEWS_URL}{mine.pk}/delete/", {"query": "stage=lead"}, follow=True)

    assert forbidden.status_code == 404
    assert SavedLeadView.objects.filter(pk=theirs.pk).exists()
    assert not SavedLeadView.objects.filter(pk=mine.pk).exists()
    assert deleted.redirect_chain == [("/leads/?stage=lead", 302)]
    assert "Deleted the view &quot;Old&quot;." in deleted.content.decode()
    assert client.get(f"{VIEWS_URL}{mine.pk}/delete/").status_code == 405


def test_a_reps_saved_view_applies_their_scope(client, owners, trio):
    client = signed_in(client, owners["bea"])
    # A query naming another owner's leads, saved by a rep, still shows only the rep's own.
    client.post(VIEWS_URL, {"name": "All opps", "query": "stage=opportunity&stage=lead"})

    response = client.get("/leads/?stage=lead&stage=opportunity")

    assert "in <em>All opps</em>" in response.content.decode()
    assert shown(response, trio) == ["a"]  # Baker (lead, Cal's) is not hers


# --- export -------------------------------------------------------------------------------------


def test_export_has_a_header_and_the_filtered_sorted_rows(client, manager, trio):
    response = signed_in(client, manager).get(
        EXPORT_URL, {"stage": ["mql", "opportunity"], "sort": "score"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    assert response.streaming
    rows = export_rows(response)
    assert rows[0] == [
        "Name", "Email", "Company", "Stage", "Owner", "Score", "Deal amount",
        "First-touch channel", "First-touch campaign", "Last-touch channel", "Content / CTA",
        "Created", "Last activity",
    ]
    assert [row[1] for row in rows[1:]] == ["carter@example.com", "archer@example.com"]
    archer = rows[2]
    assert archer[:11] == [
        "Ann Archer", "archer@example.com", "Crest", "Opportunity", "Bea Bell", "30", "500.00",
        "Paid search", "Beta camp", "Paid search", "Pricing guide",
    ]
    assert archer[11] == timezone.localtime(trio["a"].became_lead_at).strftime("%Y-%m-%d %H:%M")
    assert archer[12].startswith(days_ago(5).strftime("%Y-%m-%d"))


def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(client, manager, owners):
    names = ['=HYPERLINK("http://evil.example","click")', "-5", "+1", "@x", "plain"]
    for i, name in enumerate(names):
        LeadFactory(email=f"f{i}@example.com", first_name=name, last_name="",
                    owner=owners["abe"], cta="=1+1" if i == 0 else "")

    rows = export_rows(signed_in(client, manager).get(EXPORT_URL, {"sort": "created"}))

    assert [row[0] for row in rows[1:]] == [
        "'=HYPERLINK(\"http://evil.example\",\"click\")", "'-5", "'+1", "'@x", "plain",
    ]
    assert rows[1][10] == "'=1+1"
    # Figures the CRM writes itself stay numbers.
    assert rows[1][5] == "0"


def test_a_reps_export_holds_only_their_leads(client, owners, trio):
    rows = export_rows(signed_in(client, owners["cal"]).get(EXPORT_URL))

    assert [row[1] for row in rows[1:]] == ["baker@example.com"]


def test_the_page_links_the_export_with_the_current_filters(client, manager, trio):
    html = signed_in(client, manager).get(
        LIST_URL, {"stage": "mql", "sort": "-score", "page": 1}
    ).content.decode()

    assert 'href="/leads/export.csv?stage=mql&amp;sort=-score"' in html

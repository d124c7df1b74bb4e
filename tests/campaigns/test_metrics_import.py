"""`manage.py import_metrics`: a day's figures are replaced, never added to; unknown stays
unknown; bad rows are reported by line while the good ones load."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.imports import MetricsFileError, daily_metrics_import
from campaigns.models import DailyMetric
from leads.actors import SystemActor

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 1)


@pytest.fixture
def campaigns(campaign_factory):
    return {
        "spring": campaign_factory(channel="paid_search", utm_campaign="spring-sale"),
        "news": campaign_factory(channel="email", utm_campaign="march-newsletter"),
    }


@pytest.fixture
def write_csv(tmp_path):
    def write(text, name="metrics.csv", encoding="utf-8"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return str(path)

    return write


def run(path):
    """The command's output and exit code, as a shell would see them."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_metrics", path, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), exc.returncode, str(exc)
    return out.getvalue(), 0, ""


def stored():
    """Every stored figure, to compare the database before and after."""
    return sorted(
        DailyMetric.objects.values_list("date", "channel", "campaign__utm_campaign", "visitors",
                                        "clicks", "spend", "emails_sent", "emails_opened"),
        key=str,
    )


def metric(channel, campaign=None, day=DAY):
    return DailyMetric.objects.get(date=day, channel=channel, campaign__utm_campaign=campaign)


def channel_metric(channel, day=DAY):
    return DailyMetric.objects.get(date=day, channel=channel, campaign__isnull=True)


GOOD = (
    "date,channel,campaign,visitors,clicks,spend,emails_sent,emails_delivered,emails_opened\n"
    "2025-03-01,paid_search,spring-sale,1200,85,412.50,,,\n"
    "2025-03-01,paid_search,,5000,300,1500.00,,,\n"
    "2025-03-01,email,march-newsletter,,,,2000,1950,700\n"
)


def test_import_creates_a_row_per_day_channel_and_campaign(campaigns, write_csv):
    output, code, _ = run(write_csv(GOOD))

    assert code == 0
    assert output.splitlines() == ["created 3, updated 0, unchanged 0, rejected 0"]
    spring = metric("paid_search", "spring-sale")
    assert (spring.visitors, spring.clicks, spring.spend) == (1200, 85, Decimal("412.50"))
    assert spring.campaign == campaigns["spring"]
    assert metric("email", "march-newsletter").emails_opened == 700


def test_channel_row_and_campaign_row_of_one_day_coexist(campaigns, write_csv):
    run(write_csv(GOOD))

    assert channel_metric("paid_search").visitors == 5000
    assert metric("paid_search", "spring-sale").visitors == 1200


def test_reimporting_the_same_file_changes_nothing(campaigns, write_csv):
    path = write_csv(GOOD)
    run(path)
    before = stored()
    updated_at = dict(DailyMetric.objects.values_list("pk", "updated_at"))

    output, code, _ = run(path)

    assert code == 0
    assert output.splitlines() == ["created 0, updated 0, unchanged 3, rejected 0"]
    assert stored() == before
    assert dict(DailyMetric.objects.values_list("pk", "updated_at")) == updated_at


def test_a_changed_figure_replaces_the_stored_one_never_adds(campaigns, write_csv):
    run(write_csv(GOOD))

    output, code, _ = run(write_csv(GOOD.replace("1200,85,412.50", "1300,90,100.00"), "v2.csv"))

    assert code == 0
    assert output.splitlines() == ["created 0, updated 1, unchanged 2, rejected 0"]
    spring = metric("paid_search", "spring-sale")
    assert (spring.visitors, spring.clicks, spring.spend) == (1300, 90, Decimal("100.00"))
    assert DailyMetric.objects.count() == 3


def test_an_empty_cell_is_unknown_not_zero(campaigns, write_csv):
    run(write_csv(GOOD))

    spring = metric("paid_search", "spring-sale")
    assert spring.emails_sent is None
    assert spring.emails_opened is None


def test_a_column_left_out_of_a_later_file_becomes_unknown(campaigns, write_csv):
    run(write_csv(GOOD))

    run(write_csv("date,channel,campaign,visitors\n2025-03-01,paid_search,spring-sale,1200\n",
                  "visitors-only.csv"))

    spring = metric("paid_search", "spring-sale")
    assert spring.visitors == 1200
    assert spring.clicks is None
    assert spring.spend is None


def test_campaign_is_matched_ignoring_case_and_surrounding_spaces(campaigns, write_csv):
    output, code, _ = run(write_csv(
        "date,channel,campaign,clicks\n2025-03-01, Paid_Search , Spring-SALE ,7\n"
    ))

    assert code == 0
    assert metric("paid_search", "spring-sale").clicks == 7


BAD = (
    "date,channel,campaign,visitors,clicks,spend,emails_delivered,emails_opened\n"  # line 1
    "2025-03-01,paid_search,spring-sale,100,10,5.00,,\n"                            # 2: good
    "2025-02-30,paid_search,,100,,,,\n"                                             # 3
    "01/03/2025,paid_search,,100,,,,\n"                                             # 4
    "2025-03-01,carrier_pigeon,,100,,,,\n"                                          # 5
    "2025-03-01,paid_search,no-such-campaign,100,,,,\n"                             # 6
    "2025-03-01,paid_search,march-newsletter,100,,,,\n"                             # 7
    "2025-03-02,paid_search,,-5,,,,\n"                                              # 8
    "2025-03-02,paid_search,,,abc,,,\n"                                             # 9
    "2025-03-02,paid_search,,,12.5,,,\n"                                            # 10
    "2025-03-02,paid_search,,,\"1,234\",,,\n"                                       # 11
    "2025-03-02,paid_search,,,,12.345,,\n"                                          # 12
    "2025-03-01,email,march-newsletter,,,,100,120\n"                                # 13
    "2025-03-02,email,,,,,500,400\n"                                                # 14: good
)


def test_bad_rows_are_reported_by_line_and_the_good_rows_load(campaigns, write_csv):
    output, code, message = run(write_csv(BAD))

    assert code == 1
    assert "11 of 13 rows rejected" in message
    lines = output.splitlines()
    assert lines[0] == "created 2, updated 0, unchanged 0, rejected 11"
    assert lines[1:] == [
        "line 3: date: '2025-02-30' is not a real date",
        "line 4: date: '01/03/2025' is not a date in the form YYYY-MM-DD",
        "line 5: channel: 'carrier_pigeon' is not a channel (one of organic_search, paid_search,"
        " paid_social, organic_social, email, referral, direct, events, other)",
        "line 6: campaign: no campaign has utm_campaign 'no-such-campaign'",
        "line 7: campaign: 'march-newsletter' belongs to channel email, not paid_search",
        "line 8: visitors: '-5' is negative",
        "line 9: clicks: 'abc' is not a whole number (write digits only, e.g. 1234)",
        "line 10: clicks: '12.5' is not a whole number (write digits only, e.g. 1234)",
        "line 11: clicks: '1,234' is not a whole number (write digits only, e.g. 1234)",
        "line 12: spend: '12.345' has more than 2 decimal places",
        "line 13: emails_opened: emails_opened (120) cannot exceed emails_delivered (100)",
    ]
    assert metric("paid_search", "spring-sale").visitors == 100
    assert channel_metric("email", day=date(2025, 3, 2)).emails_opened == 400
    assert DailyMetric.objects.count() == 2


def test_a_rejected_row_leaves_the_stored_day_as_it_was(campaigns, write_csv):
    run(write_csv(GOOD))

    output, code, _ = run(write_csv(
        "date,channel,campaign,emails_sent,emails_delivered,emails_opened\n"
        "2025-03-01,email,march-newsletter,2000,100,700\n",
        "bad.csv",
    ))

    assert code == 1
    assert "line 2: emails_opened:" in output
    news = metric("email", "march-newsletter")
    assert (news.emails_delivered, news.emails_opened) == (1950, 700)


def test_every_problem_of_a_row_is_named(campaigns, write_csv):
    output, _, _ = run(write_csv("date,channel,clicks,spend\n2025-13-01,paid_search,x,-1\n"))

    assert output.splitlines()[1] == (
        "line 2: date: '2025-13-01' is not a real date; clicks: 'x' is not a whole number "
        "(write digits only, e.g. 1234); spend: '-1' is negative"
    )


def test_a_row_with_a_missing_cell_is_rejected(campaigns, write_csv):
    output, code, _ = run(write_csv("date,channel,clicks\n2025-03-01,paid_search\n"))

    assert code == 1
    assert output.splitlines()[1] == "line 2: the row has 2 cells but the header has 3 columns"


def test_line_numbers_count_blank_and_multi_line_rows(campaigns, write_csv):
    output, _, _ = run(write_csv(
        'date,channel,campaign,clicks\n'
        '\n'
        '2025-03-01,paid_search,"spring-\nsale",1\n'
        '2025-03-01,paid_search,,nope\n'
        ',,,\n'
    ))

    assert output.splitlines()[1:] == [
        "line 3: campaign: no campaign has utm_campaign 'spring-\\nsale'",
        "line 5: clicks: 'nope' is not a whole number (write digits only, e.g. 1234)",
    ]


def test_a_later_row_for_the_same_day_wins_and_is_noted(campaigns, write_csv):
    output, code, _ = run(write_csv(
        "date,channel,clicks\n"
        "2025-03-01,paid_search,10\n"
        "2025-03-01,paid_search,12\n"
    ))

    assert code == 0
    assert output.splitlines() == [
        "created 1, updated 1, unchanged 0, rejected 0",
        "note: line 3 repeats line 2's date, channel and campaign; the later row's figures are "
        "the ones kept",
    ]
    assert channel_metric("paid_search").clicks == 12


def test_an_unknown_column_fails_the_whole_file_and_writes_nothing(campaigns, write_csv):
    path = write_csv("date,channel,visitors,clickz\n2025-03-01,paid_search,100,5\n")

    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", path, stdout=io.StringIO())

    assert "Unknown column 'clickz'" in str(exc.value)
    assert "Valid columns: date, channel, campaign, visitors" in str(exc.value)
    assert "Nothing was imported" in str(exc.value)
    assert not DailyMetric.objects.exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("channel,visitors", "Missing column 'date'"),
        ("date,visitors", "Missing column 'channel'"),
        ("date,channel,visitors,visitors", "Column 'visitors' appears more than once"),
        ("date,channel,,visitors", "Column 3 of the header has no name"),
    ],
)
def test_a_bad_header_fails_the_whole_file(campaigns, write_csv, header, expected):
    path = write_csv(f"{header}\n2025-03-01,paid_search,1,1\n")

    _, code, message = run(path)

    assert code == 1
    assert expected in message
    assert not DailyMetric.objects.exists()


def test_an_excel_file_with_a_byte_order_mark_imports(campaigns, write_csv):
    path = write_csv("date,channel,visitors\r\n2025-03-01,direct,42\r\n", encoding="utf-8-sig")

    output, code, _ = run(path)

    assert code == 0
    assert channel_metric("direct").visitors == 42


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file: .*missing.csv"):
        call_command("import_metrics", str(tmp_path / "missing.csv"))


def test_a_file_that_is_not_utf8_is_a_clear_error(campaigns, write_csv):
    path = write_csv("date,channel,campaign\n2025-03-01,direct,Café\n", encoding="latin-1")

    with pytest.raises(CommandError, match='not UTF-8 text.*"CSV UTF-8"'):
        call_command("import_metrics", path)
    assert not DailyMetric.objects.exists()


# --- the service --------------------------------------------------------------------------------


def test_service_reports_counts_and_progress(campaigns):
    seen = []

    report = daily_metrics_import(
        file=io.StringIO(GOOD), actor=SystemActor.IMPORT,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, [])
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_service_takes_a_stream_with_a_byte_order_mark(campaigns):
    report = daily_metrics_import(
        file=io.StringIO("\ufeffdate,channel,visitors\n2025-03-01,direct,1\n"),
        actor=SystemActor.IMPORT,
    )

    assert report.created == 1


def test_service_refuses_a_bad_header_before_writing(campaigns):
    with pytest.raises(MetricsFileError, match="Unknown column 'bogus'"):
        daily_metrics_import(
            file=io.StringIO("date,channel,bogus\n2025-03-01,direct,1\n"),
            actor=SystemActor.IMPORT,
        )
    assert not DailyMetric.objects.exists()


def test_a_marketer_may_import_and_a_rep_may_not(campaigns, marketer, rep):
    report = daily_metrics_import(file=io.StringIO(GOOD), actor=marketer)
    assert report.created == 3

    with pytest.raises(PermissionDenied):
        daily_metrics_import(file=io.StringIO(GOOD.replace("1200", "1")), actor=rep)
    assert metric("paid_search", "spring-sale").visitors == 1200

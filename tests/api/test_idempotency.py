"""`Idempotency-Key` on API POSTs (idempotency/middleware.py): a repeat replays the first answer
and creates nothing; the same key for another request is refused; concurrent duplicates run once.
Through the real door: DRF's test client against the router's URLs."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from idempotency.models import IdempotencyKey
from idempotency.tasks import idempotency_keys_purge_task
from leads.api import views as lead_views
from leads.models import Activity, Lead
from tests.factories import LeadFactory
from tests.threads import run_at_once

pytestmark = pytest.mark.django_db

LEADS_URL = "/api/v1/leads/"
KEY = "6f1c2a4e-0b7d-4c1e-9a55-3f2d8e7b9c10"


def create(client, body, key=KEY, **extra):
    return client.post(LEADS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def test_a_repeated_create_replays_the_first_answer_and_creates_nothing(rep, api_as):
    # given
    client = api_as(rep)
    first = create(client, {"email": "ada@example.com", "first_name": "Ada"})
    assert first.status_code == 201, first.content

    # when: the client retries, e.g. after a timeout it could not tell from a failure
    again = create(client, {"email": "ada@example.com", "first_name": "Ada"})

    # then: the same answer, status, body and headers, and still one lead with one transition
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Location"] == first["Location"]
    assert again["ETag"] == first["ETag"]
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com"
    assert lead.transitions.count() == 1


def test_a_replay_runs_no_view_queries(rep, api_as, django_assert_max_num_queries):
    client = api_as(rep)
    assert create(client, {"email": "ada@example.com"}).status_code == 201

    # The token; the claim: clear an expired key and insert (refused) inside a savepoint, 3 more
    # statements; then read the key. Nothing of the view (a lead insert, a transition, ...).
    with django_assert_max_num_queries(7):
        again = create(client, {"email": "ada@example.com"})

    assert again["Idempotent-Replayed"] == "true"


def test_the_same_json_in_another_key_order_and_spacing_is_the_same_request(rep, api_as):
    client = api_as(rep)
    assert create(client, {"email": "ada@example.com", "first_name": "Ada"}).status_code == 201

    again = client.post(
        LEADS_URL, '{ "first_name" : "Ada",\n  "email": "ada@example.com" }',
        content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY,
    )

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_and_creates_nothing(rep, api_as):
    client = api_as(rep)
    assert create(client, {"email": "ada@example.com"}).status_code == 201

    response = create(client, {"email": "grace@example.com"})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in body["detail"]
    assert "new key" in body["detail"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_the_same_key_on_another_endpoint_is_refused(rep, api_as):
    client = api_as(rep)
    created = create(client, {"email": "ada@example.com"})
    lead_id = created.json()["id"]

    response = client.post(
        f"{LEADS_URL}{lead_id}/move/", {"to_stage": "mql", "version": 1}, format="json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )

    assert response.status_code == 422
    assert Lead.objects.get().stage == "lead"


def test_keys_belong_to_their_user(rep, other_rep, api_as):
    mine = create(api_as(rep), {"email": "ada@example.com"})
    theirs = create(api_as(other_rep), {"email": "grace@example.com"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert not theirs.has_header("Idempotent-Replayed")
    owners = dict(Lead.objects.values_list("email", "owner__username"))
    assert owners == {"ada@example.com": "rep1", "grace@example.com": "rep2"}


def test_a_repeated_move_replays_instead_of_answering_a_conflict(rep, api_as):
    # given
    lead = LeadFactory(owner=rep)
    client = api_as(rep)
    url = f"{LEADS_URL}{lead.pk}/move/"
    first = client.post(url, {"to_stage": "mql", "version": 1}, format="json",
                        HTTP_IDEMPOTENCY_KEY=KEY)
    assert first.status_code == 200

    # when: the same move again, whose version 1 is now stale
    again = client.post(url, {"to_stage": "mql", "version": 1}, format="json",
                        HTTP_IDEMPOTENCY_KEY=KEY)

    # then: the first answer, not a 409, and a single move in the history
    assert again.status_code == 200
    assert again.json() == first.json()
    lead.refresh_from_db()
    assert (lead.stage, lead.version) == ("mql", 2)
    assert lead.transitions.count() == 2


def test_a_failed_request_releases_its_key_for_a_corrected_retry(rep, api_as):
    client = api_as(rep)
    refused = create(client, {"email": "not-an-email"})
    assert refused.status_code == 400
    assert "email" in refused.json()

    retried = create(client, {"email": "ada@example.com"})

    assert retried.status_code == 201
    assert not retried.has_header("Idempotent-Replayed")
    assert Lead.objects.get().email == "ada@example.com"


def test_after_the_keys_lifetime_the_request_runs_again(rep, api_as):
    # given: an answer kept 24 hours ago
    client = api_as(rep)
    assert create(client, {"email": "ada@example.com"}).status_code == 201
    a_day_ago = timezone.now() - timedelta(hours=24, seconds=1)
    IdempotencyKey.objects.update(created_at=a_day_ago, expires_at=timezone.now())

    # when
    again = create(client, {"email": "ada@example.com"})

    # then: it ran (and the service refuses the duplicate email) rather than being replayed
    assert again.status_code == 400
    assert "email" in again.json()
    assert Lead.objects.count() == 1


def test_a_key_still_in_progress_answers_409_with_retry_after(rep, api_as):
    # given: the first request's claim, as it is while its view still runs (no answer yet)
    client = api_as(rep)
    assert create(client, {"email": "ada@example.com"}).status_code == 201
    IdempotencyKey.objects.update(completed_at=None, response_status=None, response_body=b"")

    # when
    response = create(client, {"email": "ada@example.com"})

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_progress"
    assert response["Retry-After"] == "1"
    assert Lead.objects.count() == 1


@override_settings(IDEMPOTENCY_CLAIM_TIMEOUT=300)
def test_a_claim_abandoned_by_a_dead_process_is_taken_over(rep, api_as):
    # given: a claim whose process died six minutes ago without an answer
    long_ago = timezone.now() - timedelta(minutes=6)
    IdempotencyKey.objects.create(
        user=rep, key=KEY, fingerprint="0" * 64, method="POST", path=LEADS_URL,
        created_at=long_ago, expires_at=long_ago + timedelta(hours=24),
    )

    response = create(api_as(rep), {"email": "ada@example.com"})

    assert response.status_code == 201
    assert Lead.objects.get().email == "ada@example.com"


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "naïve-ключ", "has space", "tab\there"],
    ids=["empty", "too-long", "non-ascii", "space", "tab"],
)
def test_an_invalid_key_is_refused_naming_the_header(rep, api_as, key):
    response = api_as(rep).post(
        LEADS_URL, {"email": "ada@example.com"}, format="json",
        headers={"Idempotency-Key": key},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Lead.objects.exists()


def test_anonymous_callers_header_is_ignored(campaign_factory):
    # The public intake has no user to own a key: each post is received as without the header.
    campaign = campaign_factory()
    client = APIClient()
    body = {"form_key": campaign.form_key, "email": "ada@example.com"}

    answers = [
        client.post("/api/v1/intake/", body, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
        for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [202, 202]
    assert not any(a.has_header("Idempotent-Replayed") for a in answers)
    assert not IdempotencyKey.objects.exists()
    assert Activity.objects.filter(type="form_submitted").count() == 2


def test_a_caller_the_view_refuses_claims_no_key(rep):
    response = APIClient().post(
        LEADS_URL, {"email": "ada@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=KEY
    )

    assert response.status_code == 401
    assert not IdempotencyKey.objects.exists()


def _session_client(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/admin/login/").status_code == 200  # sets the csrftoken cookie
    return client


def test_session_callers_use_keys_and_csrf_still_applies(rep):
    client = _session_client(rep)
    token = client.cookies["csrftoken"].value

    no_csrf = create(client, {"email": "ada@example.com"})
    first = create(client, {"email": "ada@example.com"}, HTTP_X_CSRFTOKEN=token)
    again = create(client, {"email": "ada@example.com"}, HTTP_X_CSRFTOKEN=token)

    assert no_csrf.status_code == 403
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_a_body_larger_than_the_in_memory_limit_is_fingerprinted_and_still_read(rep, api_as):
    # A multipart post (as a CSV upload) bigger than Django's in-memory limit: spooled to disk.
    client = api_as(rep)
    attachment = b"email\n" + b"row@example.com\n" * 500

    def post(content):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("leads.csv", content, content_type="text/csv")
        return client.post(
            LEADS_URL, {"email": "ada@example.com", "file": upload}, format="multipart",
            HTTP_IDEMPOTENCY_KEY=KEY,
        )

    first, again, other = post(attachment), post(attachment), post(attachment + b"x\n")

    assert first.status_code == 201, first.content
    assert Lead.objects.get().email == "ada@example.com"
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422


def test_expired_keys_are_purged_by_the_command_and_the_task(rep, api_as):
    # given: one expired key and one live one
    client = api_as(rep)
    assert create(client, {"email": "old@example.com"}, key="old").status_code == 201
    assert create(client, {"email": "new@example.com"}, key="new").status_code == 201
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now())

    # when / then: the command deletes the expired one and says so
    from io import StringIO

    out = StringIO()
    call_command("idempotency_keys_purge", stdout=out)
    assert "Deleted 1 expired" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]

    # and the beat task does the same, hourly
    IdempotencyKey.objects.update(expires_at=timezone.now())
    assert idempotency_keys_purge_task() == 1
    assert not IdempotencyKey.objects.exists()
    task = PeriodicTask.objects.get(task="idempotency.tasks.idempotency_keys_purge_task")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (3600, "seconds")


# --- concurrency: two requests with one key, at once ---------------------------------------------


@pytest.fixture
def slow_create(monkeypatch):
    """lead_create taking half a second, so that a duplicate surely arrives while it runs."""
    real = lead_views.lead_create
    started = threading.Event()

    def slow(**kwargs):
        started.set()
        time.sleep(0.5)
        return real(**kwargs)

    monkeypatch.setattr(lead_views, "lead_create", slow)
    return started


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_duplicates_create_one_lead(rep, slow_create):
    # given
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=rep).key
    body = json.dumps({"email": "ada@example.com"})

    def post(i):
        if i == 1:  # the second arrives while the first is inside the view
            assert slow_create.wait(5)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(LEADS_URL, body, content_type="application/json",
                               HTTP_IDEMPOTENCY_KEY=KEY)
        return response.status_code, response.json()

    # when
    results = run_at_once(post, 2)

    # then: one created, the other told it is in progress; one lead
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409], results
    assert Lead.objects.filter(email="ada@example.com").count() == 1
    # and once finished, a retry gets the first answer
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    retry = client.post(LEADS_URL, body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY=KEY)
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_simultaneous_duplicates_run_the_view_once(rep):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=rep).key

    def post(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(LEADS_URL, {"email": "ada@example.com"}, format="json",
                               HTTP_IDEMPOTENCY_KEY=KEY)
        return response.status_code, response.has_header("Idempotent-Replayed")

    results = run_at_once(post, 8)

    # Exactly one ran; the rest were replayed or told to retry; never a duplicate-email 400.
    assert results.count((201, False)) == 1, results
    assert all(r in {(201, False), (201, True), (409, False)} for r in results), results
    assert Lead.objects.filter(email="ada@example.com").count() == 1


def test_the_schema_documents_the_header_where_it_applies(rep, api_as):
    schema = api_as(rep).get("/api/schema/", {"format": "json"}).json()

    def header_names(path):
        operation = schema["paths"][path]["post"]
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}

    assert "Idempotency-Key" in header_names("/api/v1/leads/")
    assert "Idempotency-Key" in header_names("/api/v1/leads/{id}/move/")
    move = schema["paths"]["/api/v1/leads/{id}/move/"]["post"]["responses"]
    assert "422" in move
    refs = [s["$ref"] for s in move["409"]["content"]["application/json"]["schema"]["oneOf"]]
    assert refs == ["#/components/schemas/ConflictError",
                    "#/components/schemas/IdempotencyKeyError"]
    # Anonymous doors ignore the header, so it is not offered there.
    assert "Idempotency-Key" not in header_names("/api/v1/intake/")
    assert "Idempotency-Key" not in header_names("/api/v1/auth/token/")

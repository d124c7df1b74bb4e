"""Claiming, completing, releasing and purging idempotency keys.

A key is claimed, in its own committed transaction, before the request's view runs; the unique
constraint on (user, key) decides which of two concurrent requests runs it. The view then runs in
its own transactions, and the key is completed with the answer (2xx) or released (anything else,
so that a retry runs the request again)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .models import IdempotencyKey

# The headers a replay repeats; the others (Vary, security headers, ...) the middleware around
# the view adds again.
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag", "Last-Modified", "Content-Disposition")


class Outcome(StrEnum):
    CLAIMED = "claimed"  # new: run the request
    REPLAY = "replay"  # done before with this request: answer as then
    MISMATCH = "mismatch"  # used before for another request
    IN_PROGRESS = "in_progress"  # the first request with this key is still running


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    row: IdempotencyKey | None  # None only when a claim kept changing hands (IN_PROGRESS)


def key_ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def claim_timeout() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_CLAIM_TIMEOUT)


def idempotency_key_claim(
    *, user, key: str, fingerprint: str, method: str, path: str, now: datetime | None = None
) -> Claim:
    """Claim `key` for `user`, or say why not. An expired key, or a claim whose request never
    finished (its process died) older than IDEMPOTENCY_CLAIM_TIMEOUT, is replaced."""
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.filter(user=user, key=key).filter(
                    Q(expires_at__lte=now)
                    | Q(completed_at__isnull=True, created_at__lte=now - claim_timeout())
                ).delete()
                row = IdempotencyKey.objects.create(
                    user=user, key=key, fingerprint=fingerprint, method=method, path=path[:500],
                    created_at=now, expires_at=now + key_ttl(),
                )
            return Claim(Outcome.CLAIMED, row)
        except IntegrityError:
            row = IdempotencyKey.objects.filter(user=user, key=key).first()
            if row is None:  # released between our insert and this read: claim again
                continue
            if row.fingerprint != fingerprint:
                return Claim(Outcome.MISMATCH, row)
            if row.completed_at is None:
                return Claim(Outcome.IN_PROGRESS, None)
            return Claim(Outcome.REPLAY, row)
    return Claim(Outcome.IN_PROGRESS, None)


def idempotency_key_complete(*, row: IdempotencyKey, status: int, headers: dict, body: bytes):
    """Keep the answer of the claimed request for replays."""
    row.completed_at = timezone.now()
    row.response_status = status
    kept = {name.lower() for name in REPLAYED_HEADERS}
    row.response_headers = {k: v for k, v in headers.items() if k.lower() in kept}
    row.response_body = body
    row.save(update_fields=[
        "completed_at", "response_status", "response_headers", "response_body",
    ])


def idempotency_key_release(*, row: IdempotencyKey) -> None:
    """Forget a claim whose request did not succeed, so that a retry runs it again."""
    IdempotencyKey.objects.filter(pk=row.pk, completed_at__isnull=True).delete()


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete the expired keys; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted

"""Idempotency keys for the REST API (README, "REST API: safe writes"): a POST under /api/v1/
sent with an `Idempotency-Key` header runs once; a repeat within the key's lifetime replays the
first answer."""

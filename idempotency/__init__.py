"""Idempotency keys for the REST API (README, "Safe writes"): a POST under /api/v1/ sent with an
`Idempotency-Key` header runs once; a repeat within the keys' lifetime replays the first answer."""

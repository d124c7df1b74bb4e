"""Small SQL helpers shared by the set-based writers (scoring, imports)."""

from __future__ import annotations

import json
from collections.abc import Collection

from django.db import connection
from django.db.models.expressions import RawSQL


def id_set(ids: Collection[int]) -> RawSQL:
    """`ids` as one subquery parameter, for `pk__in=id_set(ids)`.

    A plain `pk__in=[...]` sends one bound parameter per id, which for tens of thousands of ids
    costs more to build and parse than the query itself; an array (PostgreSQL) or a JSON list
    (SQLite) is a single parameter whatever its length.
    """
    ids = [int(i) for i in ids]
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return RawSQL("SELECT value FROM json_each(%s)", (json.dumps(ids),))


def rows_insert(model, objs: list, *, now) -> None:
    """Insert new, unsaved model instances and give each its primary key, in the fewest round
    trips: PostgreSQL's COPY (ids drawn from the table's sequence first), `bulk_create` elsewhere.
    Bypasses `save()`: callers validate first, as every service does. `auto_now` and
    `auto_now_add` fields are set to `now`."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            for obj in objs:
                setattr(obj, f.attname, now)
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=2000)
        return
    table = model._meta.db_table
    pk = model._meta.pk
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in (pk.column, *(f.column for f in fields)))
    attnames = [f.attname for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(table), pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for obj, new_id in zip(objs, ids, strict=True):
                copy.write_row((new_id, *(getattr(obj, a) for a in attnames)))
    for obj, new_id in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, new_id)
        obj._state.adding = False
        obj._state.db = connection.alias

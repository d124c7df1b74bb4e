"""Small SQL helpers shared by the set-based writers (scoring, imports)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import BooleanField, F, Func, Q
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


class _EqualsAny(Func):
    """`<expression> = ANY(%s::bigint[])`, a filter."""

    output_field = BooleanField()

    def __init__(self, expression, array: str):
        super().__init__(expression)
        self.array = array

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} = ANY(%s::bigint[])", (*params, self.array)


class IdBatch:
    """A batch of ids, serialised once into one parameter, for set-based writers that name the
    same batch in several statements.

    On PostgreSQL it is an array literal, filtered on with `column = ANY(array)` (`contains`):
    built once, it is sent about three times quicker than a list of 100,000 ints adapted on
    every execute; the planner knows how many ids it holds (`IN (SELECT unnest(...))`, as in
    `id_set`, is estimated at 200 rows whatever its size); and an index scan can take them in
    order, so rows are locked in pk order without a sort. Elsewhere it is `id_set`'s JSON list.
    """

    def __init__(self, ids: Iterable[int]):
        self.ids = sorted({int(i) for i in ids})
        if connection.vendor == "postgresql":
            self.param = "{" + ",".join(map(str, self.ids)) + "}"
        else:
            self.param = json.dumps(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def contains(self, field: str):
        """A filter for `.filter()`: `field` is one of these ids."""
        if connection.vendor == "postgresql":
            return _EqualsAny(F(field), self.param)
        return Q(**{f"{field}__in": RawSQL("SELECT value FROM json_each(%s)", (self.param,))})


@contextmanager
def local_settings(settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL settings for the statements inside the block, then back to what they were.
    Use it inside an atomic block: after an error nothing is restored here, rolling back the
    transaction or savepoint undoes the settings (they are SET LOCAL). Elsewhere, nothing."""
    if not settings or connection.vendor != "postgresql":
        yield
        return
    names = list(settings)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        before = dict(zip(names, cursor.fetchone(), strict=True))
        _settings_set(cursor, settings)
    yield
    with connection.cursor() as cursor:
        _settings_set(cursor, before)


def _settings_set(cursor, settings: dict[str, str]) -> None:
    cursor.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)),
        [value for pair in settings.items() for value in pair],
    )


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

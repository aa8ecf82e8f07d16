"""Region rows created or changed through the API since the last import, and what a re-import does with them.

The upload of a region import is the municipality's systems' word on procurements, places and
candidates, but the API writes those tables too (``POST /v1/procurements``, ``POST`` and ``PATCH
/v1/places``, ``POST`` and ``PATCH /v1/candidates``). Each such write records here, in the same
transaction, which row it created or changed, which columns it set, when and with which key
(:func:`record`; the table ``region_edits``). An import then compares every recorded row with the
upload (:func:`reconcile`, called by :func:`service.store.replace_region` under the region lock):

- a row the API **created** is in conflict when the upload lacks it (*drop*) or holds it with other
  values in any column (*overwrite*);
- a row the API **changed** is in conflict when the upload lacks it (*drop*) or holds other values in
  a column the API set (*overwrite*); the upload's other columns are its own to change;
- a row the upload holds as the API left it is no conflict (the source system has caught up).

``placed`` of a candidate is the proposal lifecycle's (a hire sets it) and a re-import keeps it from
Platsa's record of placements (:mod:`service.integration.history`): it is compared only where the API
set it in a ``PATCH``.

The caller's ``mode`` decides what happens to conflicts:

``None``
    Refused (:class:`RegionEditConflict`, 409, every row listed); nothing is imported.
``"merge"``
    The API is the later word: a dropped row is kept as the API left it, and an overwritten one is the
    upload's row with the API's values in the columns that differ. Every other row comes from the
    upload. The merged region must still hold together (every reference found, a place's supplier
    the winner of its procurement, :func:`scoring.region.check_references`); where it does not, the
    import is refused with those problems, by id. The answer lists what was merged.
``"replace"``
    The upload wins; the answer lists, by id, what the API did that is now gone.

After a successful import the record starts afresh (:func:`clear`): what was merged is now the last
import, and an upload after that which lacks it drops it like any other row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import sqlalchemy as sa

from scoring.exceptions import Problem
from scoring.region import Region, check_references, region_from_frames
from scoring.schema import TABLES
from service.auth import Principal
from service.db.tables import REGION_TABLES, region_edits
from service.errors import Conflict

Mode = Literal["merge", "replace"]
"""What an import does with rows that the API created or changed and the upload would lose."""

#: The region tables the API writes, in :data:`scoring.schema.TABLES` order.
EDITED_TABLES = ("procurements", "places", "candidates")
#: Columns the proposal lifecycle maintains, compared only where the API set them itself.
_LIFECYCLE_COLUMNS = {"candidates": frozenset({"placed"})}
#: Ids per ``IN (...)`` list.
_CHUNK = 500
#: Rows named one by one in a conflict's ``detail`` (``edits`` lists them all).
_DETAIL_ROWS = 20


def record(conn: sa.Connection, caller: Principal, table: str, row_id: str, *,
           created: bool = False, fields: Iterable[str] = (), now: dt.datetime | None = None) -> None:
    """Record that ``caller`` created ``row_id`` of ``table``, or set its ``fields``, just now.

    Call it after the write itself, in its transaction: two changes of one row then follow each other
    (the row's lock holds the second until the first commits), so the second finds the first's
    record and adds to it.
    """
    now = now or dt.datetime.now(dt.UTC)
    where = (region_edits.c.table_name == table, region_edits.c.row_id == row_id)
    found = conn.execute(sa.select(region_edits.c.kind, region_edits.c.fields).where(*where)).first()
    if found is None:
        conn.execute(region_edits.insert().values(
            table_name=table, row_id=row_id, kind="created" if created else "changed",
            fields=[] if created else sorted(set(fields)), edited_at=now, key_id=caller.key_id))
        return
    kind = "created" if created or found.kind == "created" else "changed"
    columns = [] if kind == "created" else sorted(set(found.fields) | set(fields))
    conn.execute(region_edits.update().where(*where).values(kind=kind, fields=columns, edited_at=now,
                                                            key_id=caller.key_id))


def clear(conn: sa.Connection) -> None:
    """Start the record afresh: the region just imported is the last import."""
    conn.execute(region_edits.delete())


@dataclass(frozen=True)
class Edit:
    """One recorded row that the upload would drop or overwrite (wire form: ``service.models.RegionEdit``)."""

    table: str
    id: str
    edit: Literal["created", "changed"]
    edited_at: dt.datetime
    key_id: int | None
    fields: tuple[str, ...]
    upload: Literal["drop", "overwrite"]
    differs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        # SQLite keeps no time zone: the service writes UTC only, so a naive value read back is UTC.
        at = self.edited_at if self.edited_at.tzinfo else self.edited_at.replace(tzinfo=dt.UTC)
        return {"table": self.table, "id": self.id, "edit": self.edit,
                "edited_at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "key_id": self.key_id,
                "fields": list(self.fields), "upload": self.upload, "differs": list(self.differs)}

    def describe(self) -> str:
        done = "dropped" if self.upload == "drop" else f"overwritten ({', '.join(self.differs)})"
        return f"{self.table} {self.id} ({self.edit} through the API, {done} by the upload)"


class RegionEditConflict(Conflict):
    """An import that would lose what the API did, or whose merge does not hold together (409)."""

    slug, title = "region-edit-conflict", "Import conflicts with changes made through the API"

    def __init__(self, detail: str, edits: Sequence[Edit], problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.edits = list(edits)
        self.problems = list(problems)

    @classmethod
    def unresolved(cls, edits: Sequence[Edit]) -> RegionEditConflict:
        """The upload would drop or overwrite ``edits`` and the caller gave no ``mode``."""
        named = "; ".join(e.describe() for e in edits[:_DETAIL_ROWS])
        more = f"; and {len(edits) - _DETAIL_ROWS} more" if len(edits) > _DETAIL_ROWS else ""
        return cls(f"{len(edits)} row(s) created or changed through the API since the last import would be "
                   f"lost: {named}{more}. Import with mode=merge to keep what the API did, or mode=replace "
                   "to take the upload's rows; nothing was imported", edits)

    @classmethod
    def merge_broken(cls, edits: Sequence[Edit], problems: Sequence[Problem]) -> RegionEditConflict:
        """What ``mode=merge`` keeps does not hold together with the upload (``problems``, by id)."""
        return cls(f"{len(problems)} problem(s): the region that mode=merge makes does not hold together "
                   "(see problems); change the upload, or import with mode=replace; nothing was imported",
                   edits, problems)

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"edits": [e.to_dict() for e in self.edits]}
        if self.problems:
            out["problems"] = [{"file": p.file, "row": p.row, "column": p.column, "value": p.value,
                                "reason": p.reason} for p in self.problems]
        return out


@dataclass(frozen=True)
class Reconciled:
    """The region an import stores, after :func:`reconcile`."""

    region: Region
    merged: list[Edit] = field(default_factory=list)
    """``mode=merge``: the conflicts resolved by keeping what the API did."""
    discarded: list[Edit] = field(default_factory=list)
    """``mode=replace``: the conflicts resolved by taking the upload's rows."""
    problems: list[Problem] = field(default_factory=list)
    """``mode=merge``: why the merged region does not hold together (the caller refuses it)."""


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):  # a missing list is an empty one (service.store)
        return list(a or []) == list(b or [])
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def _key(table: str) -> str:
    key = TABLES[table].key
    assert key is not None  # the edited tables all have one
    return key


def _rows_by_id(rows: Iterable[Any], key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): dict(r) for r in rows}


def _conflicts(conn: sa.Connection, region: Region, table: str,
               recorded: Sequence[Any]) -> tuple[list[Edit], dict[str, dict[str, Any]]]:
    """The recorded rows of ``table`` that the upload drops or overwrites, and the stored rows."""
    key = _key(table)
    columns = [c.name for c in TABLES[table].columns]
    sql = REGION_TABLES[table]
    ids = [r.row_id for r in recorded]
    stored: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(sa.select(*(sql.c[c] for c in columns))
                            .where(sql.c[key].in_(ids[start:start + _CHUNK]))).mappings()
        stored.update(_rows_by_id(rows, key))
    frame = region.table(table)
    uploaded = _rows_by_id(frame.filter(pl.col(key).is_in(ids)).to_dicts(), key) if frame.height else {}
    found: list[Edit] = []
    for r in recorded:
        mine = stored.get(r.row_id)
        if mine is None:  # pragma: no cover - the API deletes no region rows
            continue
        theirs = uploaded.get(r.row_id)
        if r.kind == "created":
            compared = [c for c in columns if c != key and c not in _LIFECYCLE_COLUMNS.get(table, ())]
        else:
            compared = [c for c in columns if c in set(r.fields)]
        differs = [] if theirs is None else [c for c in compared if not _same(mine[c], theirs[c])]
        if theirs is not None and not differs:
            continue
        found.append(Edit(table, r.row_id, r.kind, r.edited_at, r.key_id, tuple(r.fields),
                          "drop" if theirs is None else "overwrite", tuple(differs)))
    return found, stored


def _merge(region: Region, conflicts: Sequence[Edit], stored: Mapping[tuple[str, str], dict[str, Any]]
           ) -> Region:
    """``region`` with each conflict resolved the API's way (see the module's docstring)."""
    frames: dict[str, pl.DataFrame] = {}
    for table in EDITED_TABLES:
        mine = [e for e in conflicts if e.table == table]
        if not mine:
            continue
        key = _key(table)
        frame = region.table(table)
        uploaded = _rows_by_id(frame.filter(pl.col(key).is_in([e.id for e in mine])).to_dicts(), key)
        rows = []
        for e in mine:
            api = stored[(table, e.id)]
            rows.append(api if e.upload == "drop" else {**uploaded[e.id], **{c: api[c] for c in e.differs}})
        kept = pl.DataFrame(rows, schema=TABLES[table].polars_schema, strict=False)
        frames[table] = pl.concat([frame.filter(~pl.col(key).is_in([e.id for e in mine])), kept])
    return region_from_frames(region.manifest,
                              {name: frames.get(name, region.table(name)) for name in TABLES})


def _merge_problems(merged: Region, conflicts: Sequence[Edit]) -> list[Problem]:
    """:func:`scoring.region.check_references` on the merged region, each problem named by its row's id."""
    origin = {(e.table, e.id): ("created" if e.edit == "created" else "changed") + " through the API, "
              + ("kept whole by mode=merge" if e.upload == "drop"
                 else f"the API's {', '.join(e.differs)} kept by mode=merge") for e in conflicts}
    out = []
    for p in check_references(merged):
        if p.row is None:  # "n more rows like the ones above"
            out.append(p)
            continue
        key = _key(p.file)
        row_id = str(merged.table(p.file).get_column(key)[p.row - 1])
        where = origin.get((p.file, row_id), "from the upload")
        out.append(Problem(p.file, None, p.column, p.value, f"{key} {row_id} ({where}): {p.reason}"))
    return out


def reconcile(conn: sa.Connection, region: Region, mode: Mode | None) -> Reconciled:
    """The region an import of ``region`` stores, given what the API created or changed since the last one.

    Reads inside the caller's transaction, which holds the region lock exclusively
    (:func:`service.store.lock_region`), before the region's tables are emptied.

    Raises
    ------
    RegionEditConflict
        ``mode`` is None and the upload would drop or overwrite a row that the API created or
        changed; every such row is listed and nothing changes. (A merge that does not hold together
        is returned in :attr:`Reconciled.problems`, so that the caller can list it with the
        proposal history's problems.)
    """
    recorded = conn.execute(sa.select(region_edits).order_by(region_edits.c.table_name,
                                                             region_edits.c.row_id)).all()
    if not recorded:
        return Reconciled(region)
    conflicts: list[Edit] = []
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for table in EDITED_TABLES:
        found, rows = _conflicts(conn, region, table, [r for r in recorded if r.table_name == table])
        conflicts += found
        stored.update({(table, row_id): row for row_id, row in rows.items()})
    if not conflicts:
        return Reconciled(region)
    if mode is None:
        raise RegionEditConflict.unresolved(conflicts)
    if mode == "replace":
        return Reconciled(region, discarded=conflicts)
    merged = _merge(region, conflicts, stored)
    return Reconciled(merged, merged=conflicts, problems=_merge_problems(merged, conflicts))

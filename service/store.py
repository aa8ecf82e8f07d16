"""The region in the database: replace it in one transaction, read it back as a :class:`Region`.

A re-import loses nothing without a word: rows created or changed through the API since the last
import are refused, merged or replaced as the caller asks (:mod:`service.edits`), and Platsa's own
proposal history is kept (:mod:`service.integration.history`). :func:`lock_region` keeps imports
and the API's writes of region rows and proposals from interleaving.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from scoring.region import Manifest, Region, region_from_frames
from scoring.schema import TABLES
from service import edits
from service.db.tables import REGION_TABLES, region_meta
from service.integration import history

logger = logging.getLogger(__name__)

#: Rows per INSERT statement: large enough to be fast, small enough for SQLite's parameter limit.
_BATCH = 2_000
#: Ids per ``IN (...)`` list: far below any database's parameter limit.
_IN_CHUNK = 500


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    # A missing list is stored as an empty one: the API answers lists, never null, for them.
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    if lists:
        frame = frame.with_columns(pl.col(name).fill_null(pl.lit([], dtype=frame.schema[name]))
                                   for name in lists)
    return frame.to_dicts()


def region_version(conn: sa.Connection) -> int:
    """The version of the stored region (0 when none was imported)."""
    version = conn.execute(sa.select(region_meta.c.version).where(region_meta.c.id == 1)).scalar()
    return int(version or 0)


def lock_region(conn: sa.Connection, *, exclusive: bool = False) -> int:
    """Hold the stored region until the caller's transaction ends; return its version (0: none).

    A write that reads region rows and then changes proposals or their history takes the shared
    lock as its first statement; a re-import takes it exclusively. On PostgreSQL this locks the
    ``region_meta`` row (``FOR SHARE`` / ``FOR UPDATE``): an import waits for the writes under way,
    and a write that starts during an import waits for it and then sees the new region whole,
    never half of each. SQLite serialises writing transactions anyway (``BEGIN IMMEDIATE``), so
    there the lock is a plain read.
    """
    query = sa.select(region_meta.c.version).where(region_meta.c.id == 1).with_for_update(read=not exclusive)
    return int(conn.execute(query).scalar() or 0)


@dataclass(frozen=True)
class Replaced:
    """What :func:`replace_region` stored."""

    version: int
    counts: dict[str, int]
    """Rows per table as stored: the upload's, with Platsa's carried-over history."""
    kept: dict[str, int]
    """Proposals and placements carried over from Platsa's own record (:mod:`service.integration.history`)."""
    ignored_proposals: list[str]
    """Upload proposals replaced by Platsa's record of the same proposal."""
    merged: list[edits.Edit]
    """``mode=merge``: rows created or changed through the API, kept as the API left them."""
    discarded: list[edits.Edit]
    """``mode=replace``: rows created or changed through the API that the upload replaced."""


def replace_region(conn: sa.Connection, region: Region, mode: edits.Mode | None = None) -> Replaced:
    """Replace every region table with ``region``'s rows, inside the caller's transaction.

    Rows created or changed through the API since the last import that the upload would drop or
    overwrite are refused, or merged or replaced as ``mode`` says (:func:`service.edits.reconcile`);
    the record of those rows then starts afresh. Proposals made or answered through Platsa (those
    with events in ``proposal_events`` that a person or an integration caused; reminders do not
    count) and their placements are kept, so that no such event or webhook delivery names a proposal
    that no longer exists and the follow-up keeps every hire and decline
    (:func:`service.integration.history.carry_over`).

    Raises
    ------
    service.edits.RegionEditConflict
        No ``mode``, and the upload would drop or overwrite rows the API created or changed; or
        ``mode="merge"``, and the merged region does not hold together (with the history's
        problems, if any). Nothing changed.
    service.integration.history.HistoryConflict
        The upload cannot be stored without dropping or contradicting that history; nothing changed.
    """
    lock_region(conn, exclusive=True)
    reconciled = edits.reconcile(conn, region, mode)
    region = reconciled.region
    try:
        carried = history.carry_over(conn, region)
    except history.HistoryConflict as exc:
        if reconciled.problems:  # every problem at once
            raise edits.RegionEditConflict.merge_broken(reconciled.merged,
                                                        reconciled.problems + exc.problems) from None
        raise
    if reconciled.problems:
        raise edits.RegionEditConflict.merge_broken(reconciled.merged, reconciled.problems)
    for name in reversed(list(TABLES)):
        conn.execute(REGION_TABLES[name].delete())
    counts: dict[str, int] = {}
    for name in TABLES:
        rows = _rows(region.table(name))
        if name == "proposals":
            ignored = set(carried.ignored_proposals)
            rows = [{**r, "round_id": None, "score": None, "outcome_probability": None}
                    for r in rows if r["proposal_id"] not in ignored]
            rows += carried.proposals
        elif name == "placements":
            rows += carried.placements
        for start in range(0, len(rows), _BATCH):
            conn.execute(REGION_TABLES[name].insert(), rows[start:start + _BATCH])
        counts[name] = len(rows)
    candidates = REGION_TABLES["candidates"]
    for start in range(0, len(carried.placed), _BATCH):
        conn.execute(candidates.update().where(
            candidates.c.candidate_id.in_(carried.placed[start:start + _BATCH])).values(placed=True))
    version = region_version(conn) + 1
    manifest = region.manifest
    values = {
        "region": manifest.region, "policy": manifest.policy, "reference_date": manifest.reference_date,
        "size": manifest.size, "seed": manifest.seed, "generator": manifest.generator,
        "version": version, "imported_at": dt.datetime.now(dt.UTC),
    }
    # Updated in place, not deleted and inserted: a write waiting on lock_region's row lock then
    # finds the row again, with the new version.
    if conn.execute(region_meta.update().where(region_meta.c.id == 1).values(**values)).rowcount == 0:
        conn.execute(region_meta.insert().values(id=1, **values))
    edits.clear(conn)
    kept = {"proposals": len(carried.proposals), "placements": len(carried.placements)}
    logger.info("region %s stored as version %d: %s (kept from Platsa's record: %s; API rows merged: %d, "
                "discarded: %d)", manifest.region, version, counts, kept, len(reconciled.merged),
                len(reconciled.discarded))
    return Replaced(version, counts, kept, carried.ignored_proposals, reconciled.merged, reconciled.discarded)


def read_manifest(conn: sa.Connection) -> tuple[Manifest, int] | None:
    row = conn.execute(sa.select(region_meta).where(region_meta.c.id == 1)).first()
    if row is None:
        return None
    manifest = Manifest(region=row.region, policy=row.policy, reference_date=row.reference_date,
                        size=row.size, seed=row.seed, generator=row.generator)
    return manifest, int(row.version)


def load_region(conn: sa.Connection) -> tuple[Region, int] | None:
    """The stored region and its version, or None when nothing was imported."""
    meta = read_manifest(conn)
    if meta is None:
        return None
    manifest, version = meta
    frames = {name: read_table(conn, name) for name in TABLES}
    return region_from_frames(manifest, frames), version


def read_table(conn: sa.Connection, name: str, column: str | None = None,
               ids: Iterable[str] = ()) -> pl.DataFrame:
    """One stored region table as a frame of its schema: every row, or (``column`` given) the rows
    whose ``column`` is one of ``ids``, each once."""
    table, sql_table = TABLES[name], REGION_TABLES[name]
    cols = [sql_table.c[c.name] for c in table.columns]
    if column is None:
        data = list(conn.execute(sa.select(*cols)).fetchall())
    else:
        wanted, data = sorted(set(ids)), []
        for start in range(0, len(wanted), _IN_CHUNK):
            data += conn.execute(sa.select(*cols).where(
                sql_table.c[column].in_(wanted[start:start + _IN_CHUNK]))).fetchall()
    frame = pl.DataFrame({c.name: [row[i] for row in data] for i, c in enumerate(table.columns)},
                         schema=table.polars_schema, strict=False)
    return frame if column is None else frame.unique(table.key, keep="first", maintain_order=True)

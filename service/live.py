"""The hard rules of pairs against the region as the database holds it now, inside a write.

A write that proposes candidates (by hand, or by publishing a round computed earlier) must not act
on the in-memory snapshot, which is rebuilt in the background after every write and can lag behind
it. :func:`check_pairs` therefore reads, in the caller's transaction, the rows the pairs depend on:
their candidates and places, every proposal and placement of those candidates and places (so that
open proposals, free slots and recent declines are whole), and the places those proposals name. It
builds a pool of just those rows with :func:`scoring.pool.build_pool` and asks the same rules the
shortlists and rounds ask (:func:`scoring.eligibility.explain_failures`,
:func:`scoring.eligibility.explain_held_back`, :mod:`scoring.capacity`): one definition of every
rule, on the data as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from scoring.eligibility import RuleFailure, RuleOverride, explain_failures, explain_held_back, unmet_rules
from scoring.policy import Policy
from scoring.pool import build_pool
from scoring.region import Region, region_from_frames
from service import store

__all__ = ["LiveCheck", "check_pairs", "live_region"]


@dataclass(frozen=True)
class LiveCheck:
    """What stops each pair now, and how many slots each place has free.

    Attributes
    ----------
    failures
        (candidate id, place id) → the hard rules the pair breaks that no override covers, in words
        (empty: it may be proposed). The ``free_slots`` rule is left to the caller, who counts the
        pairs it proposes to a place against :attr:`free_slots`.
    held_back
        (candidate id, place id) → the held-back rules that apply (an open proposal elsewhere, a
        recent decline at the place's supplier).
    overridden
        (candidate id, place id) → the rules an override lets the pair break, in words.
    free_slots
        Place id → free slots now (0 where the place is not open).
    place_state
        Place id → its state in words (``"filled: 2 slots, held by 2 hires"``).
    """

    failures: dict[tuple[str, str], list[RuleFailure]]
    held_back: dict[tuple[str, str], list[RuleFailure]]
    overridden: dict[tuple[str, str], list[RuleFailure]]
    free_slots: dict[str, int]
    place_state: dict[str, str]


def live_region(conn: sa.Connection, candidate_ids: Iterable[str], place_ids: Iterable[str]) -> Region:
    """The rows of the stored region that rules about these candidates and places read."""
    candidate_ids, place_ids = set(candidate_ids), set(place_ids)
    proposals = pl.concat([store.read_table(conn, "proposals", "candidate_id", candidate_ids),
                           store.read_table(conn, "proposals", "place_id", place_ids)]).unique(
        "proposal_id", maintain_order=True)
    placements = pl.concat([store.read_table(conn, "placements", "candidate_id", candidate_ids),
                            store.read_table(conn, "placements", "place_id", place_ids)]).unique(
        "placement_id", maintain_order=True)
    named = place_ids | set(proposals["place_id"].to_list()) | set(placements["place_id"].to_list())
    frames = {
        "candidates": store.read_table(conn, "candidates", "candidate_id", candidate_ids),
        "places": store.read_table(conn, "places", "place_id", named),
        "proposals": proposals,
        "placements": placements,
        **{name: store.read_table(conn, name) for name in ("districts", "occupations", "suppliers")},
    }
    meta = store.read_manifest(conn)
    if meta is None:
        raise LookupError("no region is stored")
    return region_from_frames(meta[0], frames)


def check_pairs(
    conn: sa.Connection,
    pairs: Sequence[tuple[str, str]],
    policy: Policy,
    *,
    overrides: Mapping[tuple[str, str], RuleOverride] | None = None,
) -> LiveCheck:
    """Every hard rule of every pair, on the stored region now (the module docstring).

    Pairs naming a candidate or place that does not exist are the caller's to refuse; here they
    have no failures.
    """
    overrides = overrides or {}
    region = live_region(conn, (c for c, _ in pairs), (p for _, p in pairs))
    pool, places = build_pool(region, policy)
    failures: dict[tuple[str, str], list[RuleFailure]] = {}
    held: dict[tuple[str, str], list[RuleFailure]] = {}
    overridden: dict[tuple[str, str], list[RuleFailure]] = {}
    for pair in dict.fromkeys(pairs):
        cid, pid = pair
        if cid not in pool.index or pid not in places.index:
            failures[pair], held[pair], overridden[pair] = [], [], []
            continue
        c, p = pool.index[cid], places.index[pid]
        broken = [f for f in explain_failures(pool, places, c, p, policy) if f.rule != "free_slots"]
        override = overrides.get(pair)
        failures[pair] = unmet_rules(broken, override)
        overridden[pair] = [f for f in broken if override is not None and override.covers(f.rule)]
        held[pair] = explain_held_back(pool, places, c, p, policy)
    wanted = {pid for _, pid in pairs if pid in places.index}
    return LiveCheck(
        failures=failures, held_back=held, overridden=overridden,
        free_slots={pid: int(places.free_slots[places.index[pid]]) for pid in wanted},
        place_state={pid: places.states.describe(places.index[pid]) for pid in wanted},
    )

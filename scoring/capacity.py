"""A place's live state: how many of its slots are free, and whether it is open for matching.

DOMAIN.md, "A region is alive": a place has *free slots*, its slots minus what holds them, and it
is *open* for matching from a policy-set lead time before its start date until its period ends,
and only while a slot is free. Shortlists, allocation rounds, hand proposals and the publication of
a round all read these numbers from here (:func:`place_states`), so that they mean one thing.

What holds a slot, counted once per proposal (a placement is the continuation of its proposal):

*hire*
    the proposal was hired, or its placement led to a hire (``hired_on``): the hire holds its slot
    for the rest of the place's period;
*placement*
    a placement that goes on on the reference date, or has not started yet: no ``ended_on``, or an
    ``ended_on`` on or after the reference date;
*open proposal*
    a proposal still open (open, viewed, interview; an internship has its placement) holds a slot
    only where the policy says so (``policy.capacity.open_proposals_hold_slots``).

``free = max(slots - hires - placements - held proposals, 0)``; where the data holds more than the
slots, the excess is reported (:attr:`PlaceStates.overfilled`) rather than hidden.

The period runs from ``start_date`` to its last day, ``start_date`` plus ``duration_months`` on
the calendar (:func:`scoring.domain.period_last_day`). A place is *open* on the reference date when
``start - open_days_before_start <= reference date <= last day`` and a slot is free; otherwise it is
``ended``, ``filled`` or ``not_open_yet``, in that order of precedence (:data:`STATES`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from scoring.domain import OPEN_PROPOSAL_STATES, ProposalStatus, period_last_day
from scoring.policy import Policy

__all__ = ["STATES", "PlaceStates", "place_states"]

IntArray = npt.NDArray[np.int32]

#: A place's state on the reference date, by precedence: a place whose period ended is ``ended``
#: even when it is full; a full place is ``filled`` even before it opens.
STATES: tuple[str, ...] = ("open", "ended", "filled", "not_open_yet")
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True, eq=False)
class PlaceStates:
    """Every place's slots, what holds them and its open period, aligned with the places table.

    Attributes
    ----------
    slots
        (m,) the place's slots.
    hires, placements, proposals
        (m,) slots held by hires, by ongoing (or agreed, not yet started) placements, and by open
        proposals (zero everywhere when the policy lets open proposals hold none).
    free
        (m,) free slots: ``max(slots - hires - placements - proposals, 0)``.
    overfilled
        (m,) how many more hold the place than it has slots (0 almost everywhere).
    opens_day, last_day
        (m,) first day open for matching and last day of the period, as day numbers (days since
        1970-01-01).
    state
        (m,) int8 position in :data:`STATES`.
    reference_day
        The day judged on, as a day number.
    proposals_hold_slots, lead_days
        The policy's ``capacity`` settings the states were computed with.
    """

    slots: IntArray
    hires: IntArray
    placements: IntArray
    proposals: IntArray
    free: IntArray
    overfilled: IntArray
    opens_day: IntArray
    last_day: IntArray
    state: npt.NDArray[np.int8]
    reference_day: int
    proposals_hold_slots: bool
    lead_days: int

    @property
    def is_open(self) -> npt.NDArray[np.bool_]:
        """(m,) bool: open for matching on the reference date (in its period, a slot free)."""
        return np.asarray(self.state == 0)

    @property
    def in_period(self) -> npt.NDArray[np.bool_]:
        """(m,) bool: the reference date lies within the place's open period."""
        return np.asarray((self.opens_day <= self.reference_day) & (self.reference_day <= self.last_day))

    def state_of(self, place: int) -> str:
        """The place's state: one of :data:`STATES`."""
        return STATES[int(self.state[place])]

    def describe(self, place: int) -> str:
        """The place's state in a recruiter's words, e.g. ``"filled: 2 slots, held by 2 hires"``.

        Examples
        --------
        >>> states.describe(29)  # doctest: +SKIP
        'filled: 2 slots, held by 2 hires'
        """
        p = int(place)
        slots, free = int(self.slots[p]), int(self.free[p])
        held = self._held_words(p)
        state = self.state_of(p)
        if state == "ended":
            return f"closed: its period ended on {_date(int(self.last_day[p]))}"
        if state == "filled":
            over = int(self.overfilled[p])
            extra = f" ({over} more than its slots)" if over else ""
            return f"filled: {_slots(slots)}, held by {held}{extra}"
        if state == "not_open_yet":
            start = int(self.opens_day[p]) + self.lead_days
            return (f"not open yet: opens for matching on {_date(int(self.opens_day[p]))}, "
                    f"{self.lead_days} days before it starts on {_date(start)}")
        taken = f" ({held})" if held else ""
        return f"open: {free} of {_slots(slots)} free{taken}, until {_date(int(self.last_day[p]))}"

    def _held_words(self, p: int) -> str:
        parts = []
        for count, one, many in ((self.hires[p], "hire", "hires"),
                                 (self.placements[p], "placement going on", "placements going on"),
                                 (self.proposals[p], "open proposal", "open proposals")):
            if count:
                parts.append(f"{int(count)} {one if count == 1 else many}")
        return ", ".join(parts)


def _slots(n: int) -> str:
    return "1 slot" if n == 1 else f"{n} slots"


def _date(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def place_states(
    places: pl.DataFrame,
    proposals: pl.DataFrame,
    placements: pl.DataFrame,
    *,
    reference_date: dt.date,
    policy: Policy,
) -> PlaceStates:
    """Free slots and open periods of ``places`` on ``reference_date`` (the module docstring).

    Parameters
    ----------
    places
        Rows with at least ``place_id, slots, start_date, duration_months``; the result follows
        their order.
    proposals, placements
        The region's proposals and placements (any superset of those of ``places``; rows of other
        places are ignored).
    reference_date
        The day judged on: the region's "today".
    policy
        ``policy.capacity``: the lead time and whether open proposals hold slots.

    Examples
    --------
    >>> states = place_states(region.places, region.proposals, region.placements,  # doctest: +SKIP
    ...                       reference_date=region.manifest.reference_date, policy=policy)
    >>> states.free[:3], [states.state_of(p) for p in range(3)]  # doctest: +SKIP
    """
    rules = policy.capacity
    m = places.height
    index = {p: i for i, p in enumerate(places.get_column("place_id").to_list())}
    ref = int((np.datetime64(reference_date, "D") - _EPOCH).astype(np.int64))

    # One row per proposal, with its placement's dates where it has one; a placement whose proposal
    # is not in the table (imported data) is a row of its own, at its own place.
    placed = placements.select("proposal_id", pl.col("place_id").alias("placement_place"), "ended_on",
                               "hired_on", pl.lit(True).alias("has_placement")).unique(
        "proposal_id", keep="last", maintain_order=True)
    rows = proposals.select("proposal_id", "place_id", "status").join(
        placed, on="proposal_id", how="full", coalesce=True, maintain_order="left",
    ).with_columns(
        pl.col("place_id").fill_null(pl.col("placement_place")),
        pl.col("status").fill_null(""),
        pl.col("has_placement").fill_null(False),
    )
    ref_date = pl.lit(reference_date, dtype=pl.Date)
    flags = rows.select(
        position=pl.col("place_id").replace_strict(index, default=-1, return_dtype=pl.Int64),
        hired=pl.col("hired_on").is_not_null() | (pl.col("status") == ProposalStatus.HIRED.value),
        # A placement goes on until its last day; an internship reported without its placement
        # row is one too.
        going_on=((pl.col("has_placement")
                   & (pl.col("ended_on").is_null() | (pl.col("ended_on") >= ref_date)))
                  | (~pl.col("has_placement") & (pl.col("status") == ProposalStatus.INTERNSHIP.value)))
        & pl.col("hired_on").is_null() & (pl.col("status") != ProposalStatus.HIRED.value),
        open=~pl.col("has_placement") & pl.col("status").is_in(
            [s.value for s in OPEN_PROPOSAL_STATES if s != ProposalStatus.INTERNSHIP]),
    )
    position = flags.get_column("position").to_numpy()
    known = position >= 0

    def per_place(column: str) -> IntArray:
        mask = flags.get_column(column).to_numpy() & known
        return np.bincount(position[mask], minlength=m).astype(np.int32)

    hires = per_place("hired")
    ongoing = per_place("going_on")
    held = per_place("open") if rules.open_proposals_hold_slots else np.zeros(m, dtype=np.int32)

    slots = places.get_column("slots").to_numpy().astype(np.int32)
    taken = hires + ongoing + held
    free = np.maximum(slots - taken, 0).astype(np.int32)
    start = places.get_column("start_date").cast(pl.Date).to_numpy().astype("datetime64[D]")
    last = period_last_day(start, places.get_column("duration_months").to_numpy())
    start_day = (start - _EPOCH).astype(np.int64)
    opens = (start_day - rules.open_days_before_start).astype(np.int32)
    last_day = (last - _EPOCH).astype(np.int64).astype(np.int32)
    state = np.zeros(m, dtype=np.int8)
    state[opens > ref] = STATES.index("not_open_yet")
    state[free <= 0] = STATES.index("filled")
    state[last_day < ref] = STATES.index("ended")
    return PlaceStates(
        slots=slots, hires=hires, placements=ongoing, proposals=held, free=free,
        overfilled=np.maximum(taken - slots, 0).astype(np.int32), opens_day=opens, last_day=last_day,
        state=state, reference_day=ref, proposals_hold_slots=rules.open_proposals_hold_slots,
        lead_days=rules.open_days_before_start,
    )

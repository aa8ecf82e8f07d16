"""The candidate pool and the place table in array form: what the service keeps in memory.

A :class:`~scoring.region.Region` is tables of ids, dates, strings and lists. Scoring a place
against a million candidates must be array arithmetic, so :func:`build_pool` turns the region
into flat numpy arrays **once**, where the data is loaded:

* candidates and places become positions ``0..n-1`` (ids are mapped here, at the boundary, and
  nowhere else — STYLE.md);
* coordinates are projected to kilometres on a local plane (:class:`Projection`), so a distance
  is two subtractions and a square root;
* dates become whole days since 1970-01-01 (int32);
* wished placement types become a bitmask, competences a bitset of concepts (uint64 words,
  one bit per concept of the competence vocabulary), so that competence fit is
  ``np.bitwise_count(candidate_words & place_words)``;
* age, months registered and the priority-group masks are computed on the region's reference
  date (the "today" of its data);
* proposals become per-candidate counts, per-place lists and a sorted (supplier, candidate)
  index of recent declines, for the held-back rules.

Labels are mapped to concepts here, each distinct label once (:mod:`scoring.competence`).
The pool holds sensitive attributes (gender, age, foreign birth, disability): it is for the
municipality's own scoring and never leaves the service as such.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from scoring.capacity import PlaceStates, place_states
from scoring.competence import UNKNOWN_PREFIX, CompetenceNormaliser, spaced_key
from scoring.domain import (
    OPEN_PROPOSAL_STATES,
    Gender,
    PlacementType,
    PriorityGroup,
    ProposalStatus,
    age_on,
    months_between,
    priority_groups,
)
from scoring.exceptions import PoolPolicyMismatchError, UnknownEntityError
from scoring.policy import Policy
from scoring.region import Region
from scoring.taxonomy import load_competences

__all__ = [
    "EARTH_RADIUS_KM",
    "GENDER_CODES",
    "PLACEMENT_TYPE_BITS",
    "CandidatePool",
    "PlaceTable",
    "Pool",
    "Projection",
    "build_pool",
    "check_policy",
    "default_normaliser",
    "policy_groups_key",
]

logger = logging.getLogger(__name__)

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
#: One bit per placement type, in the enum's order; a candidate's wished types are an OR of these.
PLACEMENT_TYPE_BITS: dict[str, int] = {t.value: 1 << i for i, t in enumerate(PlacementType)}
#: Gender as a small integer code in the pool.
GENDER_CODES: dict[str, int] = {Gender.WOMAN.value: 0, Gender.MAN.value: 1, Gender.OTHER.value: 2}
_EPOCH = dt.date(1970, 1, 1)

BoolArray = npt.NDArray[np.bool_]


def day_number(day: dt.date) -> int:
    """Whole days from 1970-01-01 to ``day``: the pool's integer date."""
    return (day - _EPOCH).days


@dataclass(frozen=True)
class Projection:
    """An equirectangular projection to km on a plane touching the region at (lat0, lon0).

    ``x = R · Δlon · cos(lat0)``, ``y = R · Δlat`` (radians). Within a municipality (tens of
    km) the error against the great-circle distance is far below the ~100 m to which home
    locations are coarsened; across a few degrees of latitude it stays under about 2 %.
    """

    lat0: float
    lon0: float

    def to_km(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Project WGS84 degrees to (x, y) km, float32."""
        lat_a = np.asarray(lat, dtype=np.float64)
        lon_a = np.asarray(lon, dtype=np.float64)
        scale = math.radians(1.0) * EARTH_RADIUS_KM
        x = (lon_a - self.lon0) * scale * math.cos(math.radians(self.lat0))
        y = (lat_a - self.lat0) * scale
        return x.astype(np.float32), y.astype(np.float32)


@dataclass(frozen=True, eq=False)
class CandidatePool:
    """Every candidate of a region as flat arrays, indexed by position ``0..n-1``.

    Attributes
    ----------
    ids
        (n,) candidate ids (object array of str); ``index`` maps an id to its position.
    reference_date
        The day ages and registration times are counted on (the region manifest's).
    x_km, y_km
        (n,) float32 home location on the region's :class:`Projection`.
    ladder_step
        (n,) int8 work-ladder step 1..4 (*arbetstrappan*).
    commute_limit_km
        (n,) float32 longest commute accepted.
    available_day
        (n,) int32 first day available, as :func:`day_number`.
    wished_types
        (n,) uint8 OR of :data:`PLACEMENT_TYPE_BITS`; 0 means "any type".
    wished_hours
        (n,) int16 wished hours per week.
    competences
        (W, n) uint64 concept bitset, one row per 64 concepts (column-major so that one word of
        every candidate is contiguous).
    months_registered
        (n,) int32 whole months registered with the employment service (negative if the date is
        after the reference date).
    age
        (n,) int16 age reached in the reference year (sensitive).
    gender
        (n,) int8 :data:`GENDER_CODES` (sensitive).
    groups
        The candidate-level priority groups the policy enables, as (n,) bool masks (sensitive).
    num_groups
        (n,) int8 how many of those groups each candidate belongs to.
    placed
        (n,) bool already in a placement.
    open_proposals
        (n,) int16 proposals in an open state (:data:`~scoring.domain.OPEN_PROPOSAL_STATES`).
    district
        (n,) int16 home district position in ``district_ids``.
    """

    ids: npt.NDArray[np.object_]
    index: dict[str, int]
    reference_date: dt.date
    projection: Projection
    x_km: npt.NDArray[np.float32]
    y_km: npt.NDArray[np.float32]
    ladder_step: npt.NDArray[np.int8]
    commute_limit_km: npt.NDArray[np.float32]
    available_day: npt.NDArray[np.int32]
    wished_types: npt.NDArray[np.uint8]
    wished_hours: npt.NDArray[np.int16]
    competences: npt.NDArray[np.uint64]
    months_registered: npt.NDArray[np.int32]
    age: npt.NDArray[np.int16]
    gender: npt.NDArray[np.int8]
    foreign_born: BoolArray
    disability: BoolArray
    groups: dict[PriorityGroup, BoolArray]
    num_groups: npt.NDArray[np.int8]
    placed: BoolArray
    open_proposals: npt.NDArray[np.int16]
    district: npt.NDArray[np.int16]
    district_ids: tuple[str, ...]
    concepts: tuple[str, ...]
    """Concept code of each bit of ``competences`` (bit ``b`` is word ``b // 64``, bit ``b % 64``)."""
    concept_labels: dict[str, str]
    """A readable label per concept code (the vocabulary's first label; the text of a pseudo-concept)."""
    unknown_competences: dict[str, int] = field(default_factory=dict)
    """Labels (candidates' and places') that matched no concept, with their number of uses."""
    policy_id: str = ""
    """The policy the pool was built for."""
    policy_key: tuple[object, ...] = ()
    """:func:`policy_groups_key` of that policy: a query with another policy is refused."""
    commute_limit_sq: npt.NDArray[np.float32] = field(init=False, repr=False)
    """``commute_limit_km ** 2``: the commute rule compares squared distances."""
    wished_or_any: npt.NDArray[np.uint8] = field(init=False, repr=False)
    """``wished_types`` with "no wish" (0) as every bit set: the type rule is one AND."""

    def __post_init__(self) -> None:
        # Derived once here so that a query over a million candidates saves an operation each.
        object.__setattr__(self, "commute_limit_sq", self.commute_limit_km * self.commute_limit_km)
        object.__setattr__(self, "wished_or_any",
                           np.where(self.wished_types == 0, 0xFF, self.wished_types).astype(np.uint8))

    @property
    def size(self) -> int:
        """Number of candidates."""
        return len(self.ids)

    @property
    def reference_day(self) -> int:
        """:attr:`reference_date` as :func:`day_number`."""
        return day_number(self.reference_date)

    def position(self, candidate_id: str) -> int:
        """Position of a candidate id; :class:`UnknownEntityError` if there is none."""
        try:
            return self.index[candidate_id]
        except KeyError:
            raise UnknownEntityError("candidate", candidate_id) from None

    def positions(self, candidate_ids: Iterable[str]) -> npt.NDArray[np.int64]:
        """Positions of several candidate ids."""
        return np.fromiter((self.position(c) for c in candidate_ids), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class PlaceTable:
    """Every place of a region as flat arrays, indexed by position ``0..m-1``.

    Attributes
    ----------
    ids
        (m,) place ids; ``index`` maps an id to its position.
    supplier
        (m,) int32 position of the place's supplier in ``supplier_ids``.
    placement_type
        (m,) uint8 the place's bit of :data:`PLACEMENT_TYPE_BITS`.
    x_km, y_km
        (m,) float32 workplace location on the pool's projection.
    start_day
        (m,) int32 first day, as :func:`day_number`.
    duration_months, lowest_step, supervisor, hours
        The place's planned length, lowest work-ladder step it takes, whether a supervisor
        (*handledare*) is offered, hours per week.
    share_women
        (m,) float32 share of women in the place's occupation (SSYK).
    women_under, men_under
        (m,) bool: women / men are under-represented in the occupation (share below the policy's
        ``groups.gender_norm_threshold``), so a woman / a man there breaks the gender norm.
    required, wanted
        (W, m) uint64 concept bitsets of the competence profile (same bits as the pool's).
    needed
        (W, m) uint64 the required concepts that are a hard rule at the place: of a kind the
        policy makes hard (``policy.competences``), and not marked as learnt on the job.
    num_required, num_wanted
        (m,) int16 number of distinct concepts in each bitset.
    states
        Free slots, what holds them and the open period of every place on the pool's reference
        date (:func:`scoring.capacity.place_states`).
    open_ptr, open_candidates
        CSR: candidates with an open proposal to place ``p`` are
        ``open_candidates[open_ptr[p]:open_ptr[p + 1]]`` (sorted).
    decline_keys, decline_day
        Sorted int64 keys ``supplier * n + candidate`` of declined proposals to the supplier's
        places (whoever declined), and the day of the latest such decline (int32 day number).
    """

    ids: npt.NDArray[np.object_]
    index: dict[str, int]
    titles: npt.NDArray[np.object_]
    ssyk_code: npt.NDArray[np.object_]
    supplier: npt.NDArray[np.int32]
    supplier_ids: tuple[str, ...]
    supplier_names: tuple[str, ...]
    placement_type: npt.NDArray[np.uint8]
    x_km: npt.NDArray[np.float32]
    y_km: npt.NDArray[np.float32]
    district: npt.NDArray[np.int16]
    slots: npt.NDArray[np.int32]
    start_day: npt.NDArray[np.int32]
    duration_months: npt.NDArray[np.float32]
    lowest_step: npt.NDArray[np.int8]
    supervisor: BoolArray
    hours: npt.NDArray[np.int16]
    share_women: npt.NDArray[np.float32]
    women_under: BoolArray
    men_under: BoolArray
    required: npt.NDArray[np.uint64]
    wanted: npt.NDArray[np.uint64]
    needed: npt.NDArray[np.uint64]
    num_required: npt.NDArray[np.int16]
    num_wanted: npt.NDArray[np.int16]
    required_concepts: tuple[tuple[str, ...], ...]
    wanted_concepts: tuple[tuple[str, ...], ...]
    open_ptr: npt.NDArray[np.int64]
    open_candidates: npt.NDArray[np.int32]
    open_keys: npt.NDArray[np.int64]
    """Sorted int64 keys ``place * n + candidate`` of the open proposals (same order as the CSR)."""
    concepts: tuple[str, ...]
    """Concept code of each bit of the bitsets (the pool's)."""
    decline_keys: npt.NDArray[np.int64]
    decline_day: npt.NDArray[np.int32]
    states: PlaceStates
    decline_reason: npt.NDArray[np.object_] = field(default_factory=lambda: np.zeros(0, dtype=object))
    """Reason code of that latest decline (``None`` where none was given), aligned with the keys."""

    @property
    def size(self) -> int:
        """Number of places."""
        return len(self.ids)

    def position(self, place_id: str) -> int:
        """Position of a place id; :class:`UnknownEntityError` if there is none."""
        try:
            return self.index[place_id]
        except KeyError:
            raise UnknownEntityError("place", place_id) from None

    @property
    def free_slots(self) -> npt.NDArray[np.int32]:
        """(m,) free slots on the reference date (0 where the place is not open)."""
        return np.where(self.states.is_open, self.states.free, 0).astype(np.int32)

    def needed_concepts(self, place: int) -> list[str]:
        """Concept codes the place requires as a hard rule (:attr:`needed`), in the profile's order."""
        words = self.needed[:, place].tolist()
        bit = {code: i for i, code in enumerate(self.concepts)}

        def needed(code: str) -> bool:
            return code in bit and bool(words[bit[code] // 64] >> (bit[code] % 64) & 1)

        return [code for code in self.required_concepts[place] if needed(code)]

    def open_at(self, place: int) -> npt.NDArray[np.int32]:
        """Positions of the candidates with an open proposal to ``place`` (sorted)."""
        return self.open_candidates[self.open_ptr[place] : self.open_ptr[place + 1]]


class Pool(NamedTuple):
    """What :func:`build_pool` returns: ``pool, places = build_pool(region, policy)``."""

    candidates: CandidatePool
    places: PlaceTable


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def default_normaliser() -> CompetenceNormaliser:
    """A normaliser over the shipped competence vocabulary (:func:`scoring.taxonomy.load_competences`)."""
    return CompetenceNormaliser.from_vocabulary(load_competences())


def policy_groups_key(policy: Policy) -> tuple[object, ...]:
    """What of a policy the pool precomputes: enabled groups and the numbers that define them, what
    holds a place's slots and when it is open, and which required competences are hard rules."""
    far = policy.far_from_labour_market
    return (policy.groups.enabled, policy.groups.youth_max_age, policy.groups.gender_norm_threshold,
            far.young_max_age, far.young_min_months, far.older_min_months, policy.capacity,
            policy.competences)


def check_policy(pool: CandidatePool, policy: Policy) -> None:
    """Raise :class:`PoolPolicyMismatchError` unless ``pool`` was built for ``policy``'s groups."""
    if pool.policy_key and pool.policy_key != policy_groups_key(policy):
        raise PoolPolicyMismatchError(pool.policy_id, policy.id)


def build_pool(
    region: Region, policy: Policy, *, normaliser: CompetenceNormaliser | None = None
) -> Pool:
    """Turn a region into the in-memory arrays that scoring and shortlists work on.

    Run once where the data is loaded; every query afterwards is array arithmetic.

    Parameters
    ----------
    region
        A validated region.
    policy
        The policy whose enabled priority groups and gender-norm threshold are precomputed.
    normaliser
        Maps competence labels to concepts; default :func:`default_normaliser`.

    Returns
    -------
    Pool
        ``(candidates, places)``: a :class:`CandidatePool` and a :class:`PlaceTable` that share
        the projection, the concept bits and the candidate positions.

    Examples
    --------
    >>> pool, places = build_pool(region, policy)  # doctest: +SKIP
    >>> shortlist(pool, places, "P-0001", k=20, policy=policy)  # doctest: +SKIP
    """
    norm = normaliser if normaliser is not None else default_normaliser()
    ref = region.manifest.reference_date
    cands = region.candidates
    places_df = region.places.join(
        region.occupations.select("ssyk_code", "share_women"), on="ssyk_code", how="left",
        maintain_order="left",
    )
    projection = _projection(region)

    # Competence labels: each distinct label mapped once, for candidates and places together.
    label_codes, unknown = _map_labels(
        norm,
        [cands.get_column("competences"), places_df.get_column("competences_required"),
         places_df.get_column("competences_wanted"), places_df.get_column("competences_learnable")],
    )
    place_unknown = sorted(
        {label_codes[label] for col in ("competences_required", "competences_wanted")
         for label in places_df.get_column(col).explode().drop_nulls().unique().to_list()}
        - set(norm.codes)
    )
    concepts = tuple(sorted(norm.codes)) + tuple(place_unknown)
    bit_of = {code: i for i, code in enumerate(concepts)}
    num_words = max(1, -(-len(concepts) // 64))

    district_ids = tuple(region.districts.get_column("district_id").to_list())
    district_of = {d: i for i, d in enumerate(district_ids)}

    concept_labels = {code: norm.labels.get(code, code.removeprefix(UNKNOWN_PREFIX)) for code in concepts}
    pool = _build_candidates(cands, policy, ref, projection, label_codes, bit_of, num_words,
                             district_ids, district_of, concepts, concept_labels, unknown)
    places = _build_places(region, places_df, policy, projection, label_codes, bit_of, num_words,
                           district_of, pool)
    logger.info("built pool: %d candidates, %d places, %d concepts (%d words), %d unknown labels",
                pool.size, places.size, len(concepts), num_words, len(unknown))
    return Pool(pool, places)


def _projection(region: Region) -> Projection:
    # The districts' centres fix the plane: stable while candidates come and go.
    frame = region.districts if region.districts.height else region.places
    if frame.height == 0:
        frame = region.candidates
    if frame.height == 0:
        return Projection(62.0, 15.0)
    return Projection(float(frame.get_column("lat").mean()),  # type: ignore[arg-type]
                      float(frame.get_column("lon").mean()))  # type: ignore[arg-type]


def _map_labels(
    norm: CompetenceNormaliser, columns: Sequence[pl.Series]
) -> tuple[dict[str, str], dict[str, int]]:
    """Concept (or pseudo-concept) of every distinct label, and the unknown labels' use counts."""
    exploded = pl.concat([c.explode().drop_nulls() for c in columns]) if columns else pl.Series([])
    counts = exploded.value_counts(sort=True)
    label_codes: dict[str, str] = {}
    unknown: dict[str, int] = {}
    for label, count in counts.iter_rows():
        code = norm.normalise(label)
        if code is None:
            unknown[label] = int(count)
            label_codes[label] = UNKNOWN_PREFIX + spaced_key(label)
        else:
            label_codes[label] = code
    return label_codes, unknown


def set_bits(words: npt.NDArray[np.uint64]) -> list[int]:
    """Positions of the set bits of one column of a bitset (word ``w`` holds bits
    ``64 w .. 64 w + 63``), ascending: the concept bits of a candidate or a place."""
    out = []
    for w, word in enumerate(words.tolist()):
        while word:
            low = word & -word
            out.append(w * 64 + low.bit_length() - 1)
            word ^= low
    return out


def _bitset(
    lists: pl.Series, label_codes: dict[str, str], bit_of: dict[str, int], num_words: int
) -> npt.NDArray[np.uint64]:
    """(W, len(lists)) uint64 bitset of each row's concepts (unknown to ``bit_of``: left out)."""
    n = len(lists)
    words = np.zeros(num_words * n, dtype=np.uint64)
    frame = pl.DataFrame({"labels": lists}).with_row_index("row").explode("labels").drop_nulls("labels")
    if frame.height:
        label_bit = {label: bit_of.get(code, -1) for label, code in label_codes.items()}
        bits = frame.get_column("labels").replace_strict(label_bit, default=-1, return_dtype=pl.Int64)
        rows = frame.get_column("row").to_numpy().astype(np.int64)
        bits_np = bits.to_numpy()
        keep = bits_np >= 0
        rows, bits_np = rows[keep], bits_np[keep]
        np.bitwise_or.at(words, (bits_np // 64) * n + rows,
                         np.left_shift(np.uint64(1), (bits_np % 64).astype(np.uint64)))
    return words.reshape(num_words, n)


def _days(series: pl.Series) -> npt.NDArray[np.int32]:
    return series.cast(pl.Int32).fill_null(0).to_numpy().astype(np.int32)


def _build_candidates(
    cands: pl.DataFrame,
    policy: Policy,
    ref: dt.date,
    projection: Projection,
    label_codes: dict[str, str],
    bit_of: dict[str, int],
    num_words: int,
    district_ids: tuple[str, ...],
    district_of: dict[str, int],
    concepts: tuple[str, ...],
    concept_labels: dict[str, str],
    unknown: dict[str, int],
) -> CandidatePool:
    ids = np.asarray(cands.get_column("candidate_id").to_list(), dtype=object)
    x, y = projection.to_km(cands.get_column("lat").to_numpy(), cands.get_column("lon").to_numpy())
    wished = cands.get_column("wished_placement_types").fill_null([])
    wished_bits = np.zeros(len(ids), dtype=np.uint8)
    for value, bit in PLACEMENT_TYPE_BITS.items():
        named = wished.list.contains(value).fill_null(False).to_numpy()
        wished_bits |= np.where(named, bit, 0).astype(np.uint8)
    registered = cands.get_column("registered_since").to_numpy().astype("datetime64[D]")
    months = months_between(registered, ref).astype(np.int32)
    age = age_on(cands.get_column("birth_year").to_numpy(), ref).astype(np.int16)
    foreign = cands.get_column("foreign_born").fill_null(False).to_numpy().astype(bool)
    disability = cands.get_column("disability").fill_null(False).to_numpy().astype(bool)
    groups = priority_groups(age=age, foreign_born=foreign, disability=disability,
                             registered_since=registered, on=ref, policy=policy)
    num_groups = np.zeros(len(ids), dtype=np.int8)
    for mask in groups.values():
        num_groups += mask.astype(np.int8)
    gender = cands.get_column("gender").replace_strict(GENDER_CODES, default=2, return_dtype=pl.Int8)
    district = cands.get_column("home_district").replace_strict(district_of, default=-1,
                                                                 return_dtype=pl.Int16)
    return CandidatePool(
        ids=ids,
        index={c: i for i, c in enumerate(ids.tolist())},
        reference_date=ref,
        projection=projection,
        x_km=x,
        y_km=y,
        ladder_step=cands.get_column("work_ladder_step").to_numpy().astype(np.int8),
        commute_limit_km=cands.get_column("commute_limit_km").to_numpy().astype(np.float32),
        available_day=_days(cands.get_column("available_from")),
        wished_types=wished_bits,
        wished_hours=cands.get_column("wished_hours").to_numpy().astype(np.int16),
        competences=_bitset(cands.get_column("competences"), label_codes, bit_of, num_words),
        months_registered=months,
        age=age,
        gender=gender.to_numpy().astype(np.int8),
        foreign_born=foreign,
        disability=disability,
        groups=groups,
        num_groups=num_groups,
        placed=cands.get_column("placed").fill_null(False).to_numpy().astype(bool),
        open_proposals=np.zeros(len(ids), dtype=np.int16),  # filled in by _build_places
        district=district.to_numpy().astype(np.int16),
        district_ids=district_ids,
        concepts=concepts,
        concept_labels=concept_labels,
        unknown_competences=unknown,
        policy_id=policy.id,
        policy_key=policy_groups_key(policy),
    )


def _build_places(
    region: Region,
    places_df: pl.DataFrame,
    policy: Policy,
    projection: Projection,
    label_codes: dict[str, str],
    bit_of: dict[str, int],
    num_words: int,
    district_of: dict[str, int],
    pool: CandidatePool,
) -> PlaceTable:
    ids = np.asarray(places_df.get_column("place_id").to_list(), dtype=object)
    index = {p: i for i, p in enumerate(ids.tolist())}
    suppliers = region.suppliers
    supplier_ids = tuple(suppliers.get_column("supplier_id").to_list())
    supplier_of = {s: i for i, s in enumerate(supplier_ids)}
    x, y = projection.to_km(places_df.get_column("lat").to_numpy(), places_df.get_column("lon").to_numpy())
    share = places_df.get_column("share_women").fill_null(0.5).to_numpy().astype(np.float32)
    threshold = policy.groups.gender_norm_threshold
    required = _bitset(places_df.get_column("competences_required"), label_codes, bit_of, num_words)
    wanted = _bitset(places_df.get_column("competences_wanted"), label_codes, bit_of, num_words)

    def concepts_of(column: str) -> tuple[tuple[str, ...], ...]:
        return tuple(
            tuple(dict.fromkeys(label_codes[label] for label in (labels or []) if label is not None))
            for labels in places_df.get_column(column).to_list()
        )

    required_concepts = concepts_of("competences_required")
    needed = _needed_bits(required_concepts, concepts_of("competences_learnable"), policy, bit_of,
                          num_words)

    open_ptr, open_cands, decline_keys, decline_day, decline_reason = _proposal_index(
        region, pool, index, supplier_of, places_df)
    return PlaceTable(
        ids=ids,
        index=index,
        titles=np.asarray(places_df.get_column("title").to_list(), dtype=object),
        ssyk_code=np.asarray(places_df.get_column("ssyk_code").to_list(), dtype=object),
        supplier=places_df.get_column("supplier_id").replace_strict(
            supplier_of, default=-1, return_dtype=pl.Int32).to_numpy().astype(np.int32),
        supplier_ids=supplier_ids,
        supplier_names=tuple(suppliers.get_column("name").to_list()),
        placement_type=places_df.get_column("placement_type").replace_strict(
            PLACEMENT_TYPE_BITS, default=0, return_dtype=pl.UInt8).to_numpy().astype(np.uint8),
        x_km=x,
        y_km=y,
        district=places_df.get_column("district_id").replace_strict(
            district_of, default=-1, return_dtype=pl.Int16).to_numpy().astype(np.int16),
        slots=places_df.get_column("slots").to_numpy().astype(np.int32),
        start_day=_days(places_df.get_column("start_date")),
        duration_months=places_df.get_column("duration_months").to_numpy().astype(np.float32),
        lowest_step=places_df.get_column("lowest_ladder_step").to_numpy().astype(np.int8),
        supervisor=places_df.get_column("supervisor_offered").fill_null(False).to_numpy().astype(bool),
        hours=places_df.get_column("hours_per_week").to_numpy().astype(np.int16),
        share_women=share,
        # DOMAIN.md: the under-represented gender is below the policy's share (40 %) in the occupation.
        women_under=share < threshold,
        men_under=(1.0 - share) < threshold,
        required=required,
        wanted=wanted,
        needed=needed,
        num_required=np.bitwise_count(required).sum(axis=0).astype(np.int16),
        num_wanted=np.bitwise_count(wanted).sum(axis=0).astype(np.int16),
        required_concepts=required_concepts,
        wanted_concepts=concepts_of("competences_wanted"),
        open_ptr=open_ptr,
        open_candidates=open_cands,
        open_keys=np.repeat(np.arange(len(ids), dtype=np.int64), np.diff(open_ptr)) * max(pool.size, 1)
        + open_cands.astype(np.int64),
        decline_keys=decline_keys,
        decline_day=decline_day,
        decline_reason=decline_reason,
        concepts=pool.concepts,
        # DOMAIN.md, "A region is alive": one definition of free slots and open periods.
        states=place_states(places_df, region.proposals, region.placements,
                            reference_date=region.manifest.reference_date, policy=policy),
    )


def competence_kinds() -> dict[str, str]:
    """The kind (the vocabulary's ``category``) of every concept of the shipped vocabulary."""
    return {c.code: c.category for c in load_competences().concepts}


def _needed_bits(
    required: Sequence[Sequence[str]], learnable: Sequence[Sequence[str]], policy: Policy,
    bit_of: dict[str, int], num_words: int,
) -> npt.NDArray[np.uint64]:
    """(W, m) the required concepts that are a hard rule at each place (``policy.competences``)."""
    rules = policy.competences
    kinds = competence_kinds()
    words = np.zeros((num_words, len(required)), dtype=np.uint64)
    for p, (codes, taught) in enumerate(zip(required, learnable, strict=True)):
        for code in codes:
            kind = kinds.get(code)
            rule = rules.by_kind.get(kind, rules.required) if kind is not None else rules.required
            if rule == "hard" and code not in taught and code in bit_of:
                bit = bit_of[code]
                words[bit // 64, p] |= np.uint64(1) << np.uint64(bit % 64)
    return words


def _proposal_index(
    region: Region,
    pool: CandidatePool,
    place_index: dict[str, int],
    supplier_of: dict[str, int],
    places_df: pl.DataFrame,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32],
           npt.NDArray[np.object_]]:
    """Open proposals per place (CSR), the candidates' open counts, and the declines index."""
    n, m = pool.size, len(place_index)
    props = region.proposals
    cand = props.get_column("candidate_id").replace_strict(pool.index, default=-1, return_dtype=pl.Int64)
    place = props.get_column("place_id").replace_strict(place_index, default=-1, return_dtype=pl.Int64)
    cand_np, place_np = cand.to_numpy(), place.to_numpy()
    known = (cand_np >= 0) & (place_np >= 0)
    status = props.get_column("status").to_numpy()

    is_open = known & np.isin(status, [s.value for s in OPEN_PROPOSAL_STATES])
    oc, op = cand_np[is_open], place_np[is_open]
    order = np.lexsort((oc, op))
    oc, op = oc[order], op[order]
    open_ptr = np.searchsorted(op, np.arange(m + 1)).astype(np.int64)
    counts = np.bincount(oc, minlength=n)
    pool.open_proposals[:] = np.minimum(counts, np.iinfo(np.int16).max)

    declined = known & (status == ProposalStatus.DECLINED.value)
    supplier_of_place = places_df.get_column("supplier_id").replace_strict(
        supplier_of, default=-1, return_dtype=pl.Int64).to_numpy()
    dc = cand_np[declined]
    ds = supplier_of_place[place_np[declined]] if declined.any() else np.zeros(0, dtype=np.int64)
    # The day of the decline; a decline without a decision day counts from the proposal's day.
    day = _days(props.get_column("decided_on").fill_null(props.get_column("created_on")))[declined]
    reason = np.asarray(props.get_column("decline_reason").to_list(), dtype=object)[declined]
    keys = ds.astype(np.int64) * max(n, 1) + dc
    order = np.lexsort((-day.astype(np.int64), keys))
    keys, day, reason = keys[order], day[order], reason[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]  # keep the latest decline per (supplier, candidate)
    return open_ptr, oc.astype(np.int32), keys[first], day[first].astype(np.int32), reason[first]

"""Wire models: what the API accepts and answers, with examples for the OpenAPI document.

The region's resources (candidates, places, ...) are built from :mod:`scoring.schema`, so that a
column's type, bounds, allowed values and description are declared once. Strings refuse NUL and
unpaired surrogates and numbers refuse NaN and infinities, which no database stores: such input is a
422, never a 500.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

import polars as pl
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)

from scoring.schema import DATE_RANGE, ID_PATTERN, TABLES, Column

T = TypeVar("T")

_INT_BOUNDS: dict[Any, tuple[float | None, float | None]] = {
    pl.Int8: (-(2**7), 2**7 - 1), pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1), pl.Int64: (-(2**63), 2**63 - 1),
}


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
"""A string a database can store."""

def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no time zone: the service writes UTC only, so a naive value read back is UTC.
    # An aware value is converted, so that every answer carries the one offset, UTC (``Z``).
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:  # ``9999-12-31T23:59-23:59``: a 422, never a 500
        raise ValueError("out of range: UTC cannot hold this moment") from None


UtcDatetime = Annotated[
    dt.datetime, AfterValidator(_as_utc),
    Field(description="A moment in RFC 3339 with its zone, always UTC (`Z`).",
          examples=["2026-09-01T08:00:00Z"]),
]
"""A moment, always answered in UTC with its zone (RFC 3339, ``2026-09-01T08:00:00Z``).

The one timestamp type of every wire model: stored values read back from SQLite (which keeps no zone)
are UTC, and an aware value is converted to UTC, so an answer never holds a time without a zone.
"""

_MOMENT_TEXT = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?)?$"


def _moment_text(value: Any) -> Any:
    if isinstance(value, str) and re.match(_MOMENT_TEXT, value):
        return value
    raise ValueError("must be an ISO 8601 time such as 2026-09-01T08:00:00Z (UTC if no offset)")


MomentQuery = Annotated[
    dt.datetime, BeforeValidator(_moment_text), AfterValidator(_as_utc),
    WithJsonSchema({"type": "string", "pattern": _MOMENT_TEXT, "examples": ["2026-09-01T08:00:00Z"]}),
]
"""A moment given in a query: an ISO 8601 date, or date and time, UTC if it has no offset (never a
number of seconds, which the parser would otherwise take)."""

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=ID_PATTERN), AfterValidator(_clean_text)]
"""An id, as :data:`scoring.schema.ID_PATTERN` says (the same grammar as a region file's ids)."""

# One realistic row per resource: the OpenAPI examples, and the shape a client copies.
EXAMPLES: dict[str, dict[str, Any]] = {
    "districts": {"district_id": "angered", "name": "Angered", "municipality": "Göteborg",
                  "lat": 57.797, "lon": 12.05},
    "occupations": {"ssyk_code": "9111", "name_sv": "Städare", "name_en": "Cleaners", "share_women": 0.71},
    "suppliers": {"supplier_id": "S-0001", "name": "Städbolaget Väst AB", "org_number": "556677-8899"},
    "procurements": {
        "procurement_id": "U-2026-0001", "title": "Lokalvård skolor", "procurement_type": "service",
        "supplier_id": "S-0001", "contract_start": "2026-01-01", "contract_end": "2027-12-31",
        "value_sek": 4000000, "executed_locally": True, "staff_needed": 12, "requirement_type": "hard",
        "required_places": 2, "penalty_sek": 100000,
    },
    "places": {
        "place_id": "P-0001", "supplier_id": "S-0001", "procurement_id": "U-2026-0001",
        "placement_type": "internship", "ssyk_code": "9111", "title": "Lokalvårdare",
        "competences_required": ["lokalvård"], "competences_wanted": ["B-körkort"],
        "district_id": "centrum", "lat": 57.70, "lon": 11.97, "slots": 2, "start_date": "2026-10-01",
        "duration_months": 6.0, "lowest_ladder_step": 2, "supervisor_offered": True, "hours_per_week": 40,
    },
    "candidates": {
        "candidate_id": "C-000001", "home_district": "angered", "lat": 57.79, "lon": 12.05,
        "work_ladder_step": 3, "competences": ["lokalvård", "körkort B"], "commute_limit_km": 15.0,
        "wished_placement_types": [], "wished_hours": 40, "support_needs": [],
        "available_from": "2026-09-01", "registered_since": "2025-01-10", "gender": "F",
        "birth_year": 2004, "foreign_born": True, "disability": False,
        "income_support": "social_assistance", "placed": False,
    },
    "proposals": {
        "proposal_id": "PR-r-1a2b3c-0001", "candidate_id": "C-000001", "place_id": "P-0001",
        "created_on": "2026-09-01", "status": "open", "decided_on": None, "decline_reason": None,
    },
}


def _annotation(col: Column) -> Any:
    dtype = col.dtype
    if isinstance(dtype, pl.List) or dtype == pl.List:
        item: Any = Literal[col.allowed] if col.allowed else Text
        return list[item]
    if dtype == pl.String:
        return Literal[col.allowed] if col.allowed else Text
    if dtype == pl.Boolean:
        return bool
    if dtype == pl.Date:
        return dt.date
    if dtype == pl.Float64:
        return float
    return int


def _field(col: Column, *, optional: bool) -> tuple[Any, Any]:
    annotation = _annotation(col)
    kwargs: dict[str, Any] = {"description": col.description}
    if col.dtype == pl.Float64:
        kwargs["allow_inf_nan"] = False
    lo, hi = _INT_BOUNDS.get(col.dtype, DATE_RANGE if col.dtype == pl.Date else (None, None))
    lo = col.minimum if col.minimum is not None else lo
    hi = col.maximum if col.maximum is not None else hi
    if lo is not None:
        kwargs["ge"] = lo
    if hi is not None:
        kwargs["le"] = hi
    if col.dtype == pl.String and not col.allowed:
        kwargs["min_length"] = 1 if col.required else 0
    if col.is_id:  # one id grammar for files and requests (issue 14)
        kwargs["pattern"] = ID_PATTERN
    is_list = isinstance(col.dtype, pl.List)
    if optional and col.required and not is_list:
        # A change may leave a required column out, never set it to null (a list set to null is none).
        return annotation, Field(default=None, **kwargs)
    if optional:
        return annotation | None, Field(default=None, **kwargs)
    if is_list:
        return annotation, Field(default_factory=list, **kwargs)
    if not col.required:
        return annotation | None, Field(default=None, **kwargs)
    return annotation, Field(**kwargs)


def _model(name: str, table: str, *, omit: frozenset[str] = frozenset(), partial: bool = False,
           extra: str = "forbid", example: dict[str, Any] | None = None) -> type[BaseModel]:
    cols = [c for c in TABLES[table].columns if c.name not in omit]
    fields = {c.name: _field(c, optional=partial) for c in cols}
    ex = {k: v for k, v in (example or EXAMPLES[table]).items() if k not in omit}
    if partial:
        ex = {k: ex[k] for k in list(ex)[-2:]}
    config = ConfigDict(extra=extra, json_schema_extra={"examples": [ex]})  # type: ignore[typeddict-item]
    return create_model(name, __config__=config, **fields)  # type: ignore[call-overload]


if TYPE_CHECKING:  # the models are built at import time; to a type checker they are plain models
    class District(BaseModel): ...
    class Occupation(BaseModel): ...
    class Supplier(BaseModel): ...
    class Procurement(BaseModel): ...
    class Place(BaseModel): ...
    class PlacePatch(BaseModel): ...
    class Candidate(BaseModel): ...
    class CandidatePatch(BaseModel): ...
else:
    District = _model("District", "districts")
    Occupation = _model("Occupation", "occupations")
    Supplier = _model("Supplier", "suppliers")
    Procurement = _model("Procurement", "procurements")
    Place = _model("Place", "places")
    PlacePatch = _model("PlacePatch", "places",
                        omit=frozenset({"place_id", "supplier_id", "procurement_id"}), partial=True)
    Candidate = _model("Candidate", "candidates")
    CandidatePatch = _model("CandidatePatch", "candidates", omit=frozenset({"candidate_id"}), partial=True)
    # What a supplier may see of a candidate is one allowlist model, not a table minus its
    # sensitive columns: service.integration.models.CandidateProfile (service.privacy builds it).


class Verdict(BaseModel):
    """Whether a procurement qualifies for an employment requirement under a policy, and why."""

    policy_id: str = Field(examples=["gothenburg"])
    qualifies: bool = Field(examples=[True])
    reasons: list[str] = Field(examples=[["ok: type service (qualifying types: service, works)"]])


class ProcurementWithVerdict(Procurement):
    """A procurement and the policy's qualifying verdict on it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**EXAMPLES["procurements"], "verdict": {
        "policy_id": "gothenburg", "qualifies": True,
        "reasons": ["ok: type service (qualifying types: service, works)"]}}]})

    verdict: Verdict


class Page(BaseModel, Generic[T]):
    """One page of a list; ``total`` counts every item the key may see."""

    items: list[T]
    total: int = Field(examples=[1])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])


class Me(BaseModel):
    """The caller's key."""

    key_id: int = Field(examples=[3])
    name: str = Field(examples=["Angered AME"])
    role: str = Field(examples=["labour_market_unit"])
    district_id: str | None = Field(default=None, examples=["angered"])
    supplier_id: str | None = Field(default=None, examples=[None])


class RegionInfo(BaseModel):
    """The region the service holds."""

    region: str = Field(examples=["gothenburg"])
    policy: str = Field(examples=["gothenburg"])
    reference_date: dt.date = Field(examples=["2026-09-01"])
    version: int = Field(description="Incremented by every import.", examples=[1])
    counts: dict[str, int] = Field(examples=[{"districts": 10, "candidates": 10000, "places": 900}])


class PolicySummary(BaseModel):
    id: str = Field(examples=["gothenburg"])
    name: str = Field(examples=["Göteborgs Stad"])
    municipality: str = Field(examples=["Göteborg"])
    active: bool = Field(description="The policy named by the region's manifest.", examples=[True])


class DistrictKey(BaseModel):
    district_id: str = Field(examples=["angered"])
    share: float = Field(examples=[0.16])
    lower: int | None = Field(default=None, description="Lowest count for `total` places.", examples=[11])
    upper: int | None = Field(default=None, description="Highest count for `total` places.", examples=[21])


class DistributionKeys(BaseModel):
    """A policy's geographic distribution keys (geografiska fördelningsnycklar)."""

    policy_id: str = Field(examples=["gothenburg"])
    tolerance: float = Field(examples=[0.05])
    total: int | None = Field(default=None, examples=[100])
    keys: list[DistrictKey]


class AggregateCell(BaseModel):
    """One cell of an aggregate; ``count`` is null where the cell is suppressed (below the minimum)."""

    district_id: str = Field(examples=["angered"])
    group: str = Field(examples=["youth"])
    count: int | None = Field(examples=[42])
    suppressed: bool = Field(examples=[False])


class Aggregates(BaseModel):
    """Candidate counts per district and priority group, small cells suppressed."""

    min_cell_size: int = Field(examples=[5])
    total: int | None = Field(examples=[10000])
    cells: list[AggregateCell]


class AuditEntry(BaseModel):
    entry_id: int = Field(examples=[1])
    at: UtcDatetime = Field(examples=["2026-09-01T08:00:00Z"])
    key_id: int | None = Field(examples=[3])
    role: str = Field(examples=["coordinator"])
    action: str = Field(examples=["read"])
    resource: str = Field(examples=["candidate"])
    resource_id: str | None = Field(examples=["C-000001"])
    candidate_ids: list[str] | None = Field(examples=[["C-000001"]])
    detail: str | None = Field(examples=[None])
    account_id: int | None = Field(default=None, examples=[None],
                                   description="The person's account, for a read or change made on the pages "
                                               "(then `key_id` is null).")


class RegionEdit(BaseModel):
    """A region row created or changed through the API since the last import, and what an upload does
    to it."""

    table: Literal["procurements", "places", "candidates"] = Field(examples=["places"])
    id: str = Field(description="The row's id in its table.", examples=["P-0042"])
    edit: Literal["created", "changed"] = Field(
        description="What the API did (a row created, then changed, is created).", examples=["changed"])
    edited_at: UtcDatetime = Field(description="The API's latest write of the row.",
                                   examples=["2026-09-14T09:12:00Z"])
    key_id: int | None = Field(description="The API key of that write.", examples=[3])
    fields: list[str] = Field(description="A changed row: every column the API set. A created row: empty "
                                          "(the whole row is the API's).", examples=[["slots"]])
    upload: Literal["drop", "overwrite"] = Field(
        description="What the upload does to the row: lacks it (drop) or holds other values (overwrite).",
        examples=["overwrite"])
    differs: list[str] = Field(description="Overwrite: the columns where the upload's value differs from the "
                                           "API's. Drop: empty.", examples=[["slots"]])


class ImportReport(BaseModel):
    """What an import stored."""

    region: str = Field(examples=["gothenburg"])
    version: int = Field(examples=[2])
    counts: dict[str, int] = Field(description="Rows stored per table (the upload's, and what was kept).",
                                   examples=[{"districts": 10, "candidates": 10000, "proposals": 412}])
    kept: dict[str, int] = Field(
        default_factory=dict,
        description="Proposals made or answered through Platsa, and their placements, kept from before.",
        examples=[{"proposals": 412, "placements": 37}])
    ignored_proposals: list[str] = Field(
        default_factory=list,
        description="Upload proposals with the id of a kept proposal (same candidate and place): the kept "
                    "one stands.", examples=[[]])
    merged: list[RegionEdit] = Field(
        default_factory=list,
        description="`mode=merge`: the rows created or changed through the API that the upload would have "
                    "dropped or overwritten, kept as the API left them (a dropped row whole; an overwritten "
                    "one with the API's values in `differs`, the upload's elsewhere).", examples=[[]])
    discarded: list[RegionEdit] = Field(
        default_factory=list,
        description="`mode=replace`: the rows created or changed through the API that the upload dropped "
                    "or overwrote: what the API did there is gone.", examples=[[]])

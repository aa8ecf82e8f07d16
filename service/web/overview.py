"""``/overview``: the region overview (regionöversikt) for coordinators and admins.

Three parts, each over the region as it is on its reference date (the service's *today*):

- the districts as a schematic tile map, north at the top, each tile coloured by the share of
  today's ongoing placements whose person lives there, against the district's distribution key
  (fördelningsnyckel) and its tolerance, with the figures and the verdict in words on the tile and
  in a table beside it (colour is never the only signal);
- the places open now and their free slots (the shortlists' and rounds' rule, :mod:`scoring.capacity`);
- the procurements with their employment requirement's status for the year so far (the follow-up's
  :func:`scoring.followup.requirement_status`, with the dialogue log and own hires recorded), judged
  50 a page: the page's procurements only, so a page takes the same time in a region of 3,000.

The first two are computed once per snapshot (a new snapshot comes with every write); the status
table is read with the follow-up records of the request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from scoring.capacity import place_states
from scoring.followup import overlapping_procurements, requirement_status
from service.deps import Conn, State
from service.followup_records import load_records
from service.state import Snapshot
from service.web.pages import PageStaff, language, per_snapshot, render, words

router = APIRouter()

PAGE_SIZE = 50

#: A tile's colour by its verdict; the verdict is also written on it.
TILE_FILL = {"below": "#fbd9b5", "within": "#cfe8c8", "above": "#c9dcf2", "no_key": "#e6e6e6"}
TILE_W, TILE_H, GAP = 196, 96, 8


@dataclass(frozen=True)
class DistrictTile:
    """A district on the tile map: today's placements of its people against its key."""

    district_id: str
    name: str
    placed: int
    share: float | None
    key: float | None
    lower: float | None
    upper: float | None
    verdict: str
    """``below``, ``within`` or ``above`` the key's tolerance; ``no_key`` without a key."""
    col: int
    row: int


@dataclass(frozen=True)
class RegionToday:
    """What the overview shows of one snapshot, besides the requirement status."""

    reference_date: dt.date
    tiles: tuple[DistrictTile, ...]
    placed_total: int
    tolerance: float
    places_open: int
    free_slots: int
    places_total: int
    cols: int
    rows: int


def _layout(districts: pl.DataFrame) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Each district's (col, row): rows from north to south, each row west to east."""
    n = districts.height
    cols = max(1, math.ceil(math.sqrt(n * 1.5)))
    ordered = districts.sort(["lat", "lon"], descending=[True, False])
    ids = ordered["district_id"].to_list()
    lons = dict(zip(ids, ordered["lon"].to_list(), strict=True))
    cells: dict[str, tuple[int, int]] = {}
    for row, start in enumerate(range(0, n, cols)):
        for col, district in enumerate(sorted(ids[start:start + cols], key=lambda d: lons[d])):
            cells[district] = (col, row)
    return cells, cols, math.ceil(n / cols) if n else 0


def region_today(snapshot: Snapshot) -> RegionToday:
    """The districts against their keys and the places open, on the snapshot's reference date."""
    region, policy = snapshot.region, snapshot.policy
    today = region.manifest.reference_date
    ongoing = region.placements.filter(
        (pl.col("started_on") <= today) & (pl.col("ended_on").is_null() | (pl.col("ended_on") > today)))
    homes = ongoing.join(region.candidates.select("candidate_id", "home_district"), on="candidate_id")
    counts = dict(homes.group_by("home_district").len().iter_rows())
    total = int(sum(counts.values()))
    keys, tolerance = policy.distribution.keys, policy.distribution.tolerance
    cells, cols, rows = _layout(region.districts)
    tiles = []
    for district_id, name in region.districts.select("district_id", "name").iter_rows():
        placed = int(counts.get(district_id, 0))
        share = placed / total if total else None
        key = keys.get(district_id)
        lower = None if key is None else max(0.0, key - tolerance)
        upper = None if key is None else min(1.0, key + tolerance)
        if key is None or share is None or lower is None or upper is None:
            verdict = "no_key" if key is None else "within"
        else:
            verdict = "below" if share < lower else "above" if share > upper else "within"
        col, row = cells[district_id]
        tiles.append(DistrictTile(district_id, name, placed, share, key, lower, upper, verdict, col, row))
    states = place_states(region.places, region.proposals, region.placements, reference_date=today,
                          policy=policy)
    open_now = states.is_open & (states.free > 0)
    return RegionToday(today, tuple(sorted(tiles, key=lambda t: (t.row, t.col))), total, tolerance,
                       int(open_now.sum()), int(states.free[open_now].sum()), region.places.height,
                       cols, rows)


_cached = per_snapshot(region_today)


def _percent(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.0f} %"
    return text if lang == "en" else text.replace(".", ",")


def tile_map(today: RegionToday, lang: str) -> Markup:
    """The districts as SVG tiles, with a title and a description for screen readers."""
    _ = words(lang)
    width = today.cols * (TILE_W + GAP) + GAP
    height = today.rows * (TILE_H + GAP) + GAP
    parts = [f'<svg class="tile-map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" aria-labelledby="tile-map-title tile-map-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="tile-map-title">{escape(_("overview_map_title"))}</title>',
             f'<desc id="tile-map-desc">{escape(_("overview_map_desc"))}</desc>']
    for t in today.tiles:
        x, y = GAP + t.col * (TILE_W + GAP), GAP + t.row * (TILE_H + GAP)
        name = t.name if len(t.name) <= 24 else t.name[:23] + "…"
        key = _("overview_tile_key", key=_percent(t.key, lang)) if t.key is not None else _("overview_no_key")
        placed = _("overview_tile_placed", n=t.placed, share=_percent(t.share, lang))
        verdict = _("overview_verdict_" + t.verdict)
        parts += [
            f'<g class="tile tile-{t.verdict}">',
            f'<rect x="{x}" y="{y}" width="{TILE_W}" height="{TILE_H}" rx="6" fill="{TILE_FILL[t.verdict]}" '
            'stroke="#3b3b3b" stroke-width="1"/>',
            f'<text x="{x + 10}" y="{y + 22}" font-weight="bold">{escape(name)}</text>',
            f'<text x="{x + 10}" y="{y + 44}">{escape(placed)}</text>',
            f'<text x="{x + 10}" y="{y + 64}">{escape(key)}</text>',
            f'<text x="{x + 10}" y="{y + 84}" font-style="italic">{escape(verdict)}</text>',
            "</g>"]
    parts.append("</svg>")
    return Markup("".join(parts))


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, person: PageStaff, state: State, conn: Conn,
             page: str = "1") -> HTMLResponse:
    """The overview; ``?page=`` pages the procurements (anything but a page number is page 1)."""
    snapshot = state.snapshot
    if snapshot is None:
        return render(request, "overview/overview.html", {"today": None}, status_code=503)
    lang = language(request)
    today = _cached(snapshot)
    year_start = dt.date(today.reference_date.year, 1, 1)
    # Judged a page at a time: the judgement loops over procurements (about 2.5 s for the 3,333 of
    # the large fixture), a page of 50 takes about 35 ms.
    judged = overlapping_procurements(snapshot.region, year_start, today.reference_date)
    judged = judged.sort("procurement_id")
    pages = max(1, math.ceil(judged.height / PAGE_SIZE))
    number = min(max(int(page), 1), pages) if page.isdigit() and len(page) < 10 else 1
    shown = judged.slice((number - 1) * PAGE_SIZE, PAGE_SIZE)
    region = dataclasses.replace(snapshot.region, procurements=shown)
    status = requirement_status(region, snapshot.policy, period_start=year_start,
                                period_end=today.reference_date, records=load_records(conn))
    rows = status.select(
        "procurement_id", "title", "supplier_name", "requirement_type", "required_places", "due",
        "delivered", "status", "possible_breach").to_dicts()
    return render(request, "overview/overview.html", {
        "today": today, "map": tile_map(today, lang), "percent": lambda v: _percent(v, lang),
        "procurements": rows, "page": number, "pages": pages,
        "procurements_total": judged.height, "year": today.reference_date.year})


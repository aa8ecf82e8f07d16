"""A hand-made region small enough to check by eye, shared by tests of several packages."""

from __future__ import annotations

import datetime as dt

import polars as pl

from scoring.region import Manifest


def hand_region() -> dict[str, pl.DataFrame]:
    d = dt.date
    return {
        # Every district the gothenburg policy's keys name (a region must fit its policy); only the
        # first two have people and places.
        "districts": pl.DataFrame({
            "district_id": ["angered", "centrum", "askim-frolunda-hogsbo", "lundby", "majorna-linne",
                            "norra-hisingen", "orgryte-harlanda", "ostra-goteborg", "vastra-goteborg",
                            "vastra-hisingen"],
            "name": ["Angered", "Centrum", "Askim-Frölunda-Högsbo", "Lundby", "Majorna-Linné",
                     "Norra Hisingen", "Örgryte-Härlanda", "Östra Göteborg", "Västra Göteborg",
                     "Västra Hisingen"],
            "municipality": ["Göteborg"] * 10,
            "lat": [57.79, 57.70, 57.650, 57.718, 57.690, 57.778, 57.705, 57.752, 57.650, 57.725],
            "lon": [12.05, 11.97, 11.940, 11.935, 11.925, 11.960, 12.020, 12.040, 11.870, 11.880],
        }),
        "occupations": pl.DataFrame({
            "ssyk_code": ["9111"], "name_sv": ["Städare"], "name_en": ["Cleaners"], "share_women": [0.71],
        }),
        "suppliers": pl.DataFrame({"supplier_id": ["s1"], "name": ["Städbolaget Väst AB"],
                                   "org_number": ["556677-8899"]}),
        "procurements": pl.DataFrame({
            "procurement_id": ["p1"], "title": ["Lokalvård skolor"], "procurement_type": ["service"],
            "supplier_id": ["s1"], "contract_start": [d(2026, 1, 1)], "contract_end": [d(2027, 12, 31)],
            "value_sek": [4_000_000], "executed_locally": [True], "staff_needed": [12],
            "requirement_type": ["hard"], "required_places": [2], "penalty_sek": [100_000],
        }),
        "places": pl.DataFrame({
            "place_id": ["pl1"], "supplier_id": ["s1"], "procurement_id": ["p1"],
            "placement_type": ["internship"], "ssyk_code": ["9111"], "title": ["Lokalvårdare"],
            "competences_required": [["lokalvård"]], "competences_wanted": [["B-körkort"]],
            "district_id": ["centrum"], "lat": [57.70], "lon": [11.97], "slots": [2],
            "start_date": [d(2026, 10, 1)], "duration_months": [6.0], "lowest_ladder_step": [2],
            "supervisor_offered": [True], "hours_per_week": [40],
        }),
        "candidates": pl.DataFrame({
            "candidate_id": ["c1", "c2", "c3"], "home_district": ["angered", "centrum", "angered"],
            "lat": [57.79, 57.70, 57.78], "lon": [12.05, 11.97, 12.06], "work_ladder_step": [3, 1, 4],
            "competences": [["lokalvård", "körkort B"], [], ["truckkort"]],
            "commute_limit_km": [15.0, 5.0, 30.0],
            "wished_placement_types": [[], ["internship"], ["employment", "apprenticeship"]],
            "wished_hours": [40, 20, 40], "support_needs": [[], ["handledare"], []],
            "available_from": [d(2026, 9, 1)] * 3, "registered_since": [d(2025, 1, 10)] * 3,
            "gender": ["F", "M", "X"], "birth_year": [2004, 1980, 1990],
            "foreign_born": [True, False, False], "disability": [False, True, False],
            "income_support": ["social_assistance", "activity_support", "other"],
            "placed": [False, False, False],
        }),
        "proposals": pl.DataFrame({
            "proposal_id": ["pr1"], "candidate_id": ["c3"], "place_id": ["pl1"],
            "created_on": [d(2026, 8, 1)], "status": ["declined"], "decided_on": [d(2026, 8, 15)],
            "decline_reason": ["not_suitable"],
        }),
    }


MANIFEST = Manifest(region="gothenburg", policy="gothenburg", reference_date=dt.date(2026, 9, 1))

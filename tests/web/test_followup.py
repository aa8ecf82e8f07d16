"""The follow-up pages over HTTP: the year (key figures, the yearly target, charts with their tables),
one procurement's requirement status, the report downloads, bad years, and who may see what."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

import openpyxl
import pytest
from fastapi.testclient import TestClient

from service.web import followup
from service.web.charts import Bar, bar_chart
from service.web.formats import Formats
from service.web.pages import words

SV = words("sv")
PEOPLE = re.compile(r"\bC\d{7}\b")  # the demo's candidate ids


def test_a_chart_names_itself_and_writes_every_value() -> None:
    svg = str(bar_chart("Placerade <per> typ", [Bar("anställning", (4.0,)), Bar("praktik", (None,))],
                        ["Personer"], value_text=lambda v: f"{v:g} st"))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    assert "<title" in svg and "Placerade &lt;per&gt; typ" in svg  # escaped
    assert "4 st" in svg and svg.count("<rect") == 1  # a suppressed value draws nothing
    two = str(bar_chart("t", [Bar("a", (0.5, 0.25))], ["placed", "key"]))
    assert 'stroke="#1b1b1b"' in two and "placed" in two and "key" in two  # outline: not colour alone
    with pytest.raises(ValueError):
        bar_chart("t", [], ["a", "b", "c"])


def test_key_figures_read_in_words_by_unit() -> None:
    f = Formats("sv")
    assert followup.figure_value(0.256, "share", f, SV) == "25,6\u00a0%"
    assert followup.figure_value(1.0, "yes=1", f, SV) == "ja"
    assert followup.figure_value(12345.0, "people", f, SV) == "12\u202f345"
    assert followup.figure_value(None, "people", f, SV) == "–"
    assert followup.figure_label("people_into_internship", SV) == "Personer till praktik"
    assert followup.figure_label("ended_early_by_supplier", SV) == "Avbrutna av leverantören"
    assert followup.figure_label("a_new_figure", SV) == "a new figure"
    assert followup.read_year(None) == (None, None) and followup.read_year("2026") == (2026, None)
    assert followup.read_year("20x6")[1] is not None and followup.read_year("1999")[1] is not None


def test_the_coordinator_sees_the_year_with_charts_beside_their_tables(web: TestClient,
                                                                      sign_in: Callable[..., str]) -> None:
    sign_in(web, "coordinator")
    page = web.get("/followup")
    assert page.status_code == 200
    text = page.text
    for key in ("fu_target_heading", "fu_requirements_heading", "fu_figures_heading", "fu_estimate_heading",
                "fu_chart_status", "fu_chart_types", "fu_chart_districts", "fu_fig_people_placed"):
        assert SV(key) in text, key
    assert text.count("<svg") == 3 and text.count("<caption>") == 3
    assert 'href="/followup/chart.png"' in text
    # Aggregates only on the page, even for the coordinator: people's ids stay in the downloads.
    assert not PEOPLE.search(text)


def test_the_orderer_reads_a_requirement_status_and_nothing_about_people(web: TestClient,
                                                                        sign_in: Callable[..., str]) -> None:
    sign_in(web, "orderer")
    year = web.get("/followup").text
    assert SV("fu_requirements_heading") in year and SV("fu_chart_districts") not in year
    assert "/followup/chart.png" not in year and not PEOPLE.search(year)
    procurement = re.search(r'href="/followup/procurements/([^"?]+)"', year)
    assert procurement is not None
    page = web.get(f"/followup/procurements/{procurement.group(1)}")
    assert page.status_code == 200
    assert SV("fu_status_is") in page.text and SV("fu_evidence") in page.text
    assert not PEOPLE.search(page.text)
    # The downloads are the orderer's view: no sheet or file about single people.
    book = openpyxl.load_workbook(io.BytesIO(web.get("/followup/report.xlsx").content))
    assert "Kalkyl per person" not in book.sheetnames and "Utfall" not in book.sheetnames
    names = zipfile.ZipFile(io.BytesIO(web.get("/followup/report.zip").content)).namelist()
    assert "requirements.csv" in names and "outcomes.csv" not in names and "estimate_per_person.csv" not in names
    assert web.get("/followup/chart.png").status_code == 403
    # Nor can an orderer open the round pages, which name people, by URL.
    assert web.get("/rounds").status_code == 403


def test_a_bad_or_uncovered_year_is_an_error_on_the_page(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, "coordinator")
    for year in ("abc", "1990", "2040"):
        answer = web.get(f"/followup?year={year}")
        assert answer.status_code == 422 and 'id="year-error"' in answer.text, year
    assert web.get("/followup/report.xlsx?year=2040").status_code == 422
    procurement = re.search(r'href="/followup/procurements/([^"?]+)"', web.get("/followup").text)
    assert procurement is not None
    assert web.get(f"/followup/procurements/{procurement.group(1)}?year=2040").status_code == 422


def test_an_unknown_procurement_is_the_404_page(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, "admin")
    answer = web.get("/followup/procurements/no-such-procurement")
    assert answer.status_code == 404 and "<html" in answer.text


def test_the_coordinators_downloads_are_the_apis_files(web: TestClient, sign_in: Callable[..., str]) -> None:
    sign_in(web, "coordinator")
    book = openpyxl.load_workbook(io.BytesIO(web.get("/followup/report.xlsx").content))
    assert "Kalkyl per person" in book.sheetnames  # the coordinator's view, Swedish headers
    png = web.get("/followup/chart.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("role", ["supplier", "researcher", "labour_market_unit"])
def test_other_roles_cannot_open_follow_up_pages_by_url(web: TestClient, role: str,
                                                        sign_in: Callable[..., str]) -> None:
    sign_in(web, role)
    for path in ("/followup", "/followup/procurements/anything", "/followup/report.xlsx",
                 "/followup/report.zip", "/followup/chart.png"):
        assert web.get(path).status_code == 403, (role, path)

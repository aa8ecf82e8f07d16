"""Bulk import of a region: all or nothing, with every problem listed.

The upload is either a zip of a region folder (``Content-Type: application/zip``, or one ``.zip``
file in a multipart form) or the folder's files themselves in a multipart form (``region.toml`` and
``<table>.csv`` / ``<table>.parquet``). The files are checked with
:func:`scoring.region.validate_region`; any problem answers 422 with every problem (file, row,
column, value, reason) and changes nothing. A valid region replaces the stored one in one
transaction, and the in-memory pool is rebuilt from it. Proposals made or answered through Platsa
are kept (:mod:`service.integration.history`); an upload that cannot keep them answers 409 with
every problem, and changes nothing.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from scoring.exceptions import Problem, RegionValidationError
from scoring.region import MANIFEST, validate_region
from scoring.schema import TABLES
from service import audit, store
from service.auth import Principal
from service.deps import Staff, State
from service.errors import ProblemDetails, ServiceError, problem_responses
from service.models import ImportReport
from service.routes._common import StrictQueryRoute
from service.state import ServiceState

router = APIRouter(prefix="/v1/region", tags=["region"], route_class=StrictQueryRoute)

_ALLOWED_NAMES = {MANIFEST} | {f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet")}


class TooLarge(ServiceError):
    status, slug, title = 413, "too-large", "Content too large"


class UnsupportedMedia(ServiceError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def _unzip(data: bytes, folder: Path, limit: int, problems: list[Problem], label: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        problems.append(Problem(label, None, None, None, "not a zip file"))
        return
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > limit:
            raise TooLarge(f"the zip unpacks to more than {limit:,} bytes")
        for member in members:
            name = PurePosixPath(member.filename).name  # a folder inside the zip is fine; paths are not kept
            if name.startswith(".") or "__MACOSX" in member.filename:
                continue
            if name not in _ALLOWED_NAMES:
                problems.append(Problem(member.filename, None, None, None,
                                        "not a region file (region.toml, <table>.csv or <table>.parquet)"))
                continue
            (folder / name).write_bytes(archive.read(member))


def _import(state: ServiceState, caller: Principal, folder: Path, problems: list[Problem]) -> ImportReport:
    region, found = validate_region(folder)
    problems = problems + found
    if problems or region is None:
        raise RegionValidationError(problems)
    with state.writer.begin() as conn:
        stored = store.replace_region(conn, region)
        audit.record(conn, caller, "import", "region", region.manifest.region,
                     detail=f"version {stored.version}: {stored.counts}; kept from Platsa's record: "
                            f"{stored.kept}")
    state.reload()
    return ImportReport(region=region.manifest.region, version=stored.version, counts=stored.counts,
                        kept=stored.kept, ignored_proposals=stored.ignored_proposals)


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"},
                                "example": "<the bytes of region.zip>"},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                              "description": "region.toml and <table>.csv/.parquet files, or one .zip"}}},
                "example": {"files": ["region.toml", "districts.csv", "candidates.csv"]},
            },
        },
    }
}


@router.post("/import", summary="Replace the region with an uploaded one (all or nothing)",
             status_code=status.HTTP_201_CREATED, response_model=ImportReport, openapi_extra=_BODY_DOC,
             responses={**problem_responses(401, 403, 413, 415, 422),
                        409: {"model": ProblemDetails,
                              "description": "The upload would drop or contradict proposals made or "
                                             "answered through Platsa: `problems` lists every one, and "
                                             "nothing was imported."}})
async def import_region(request: Request, caller: Staff, state: State) -> ImportReport:
    """Proposals made or answered through Platsa, and their placements, are kept across the import
    (``docs/integration.md``, "Re-importing the region"); the answer says how many."""
    limit = state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"uploads are limited to {limit:,} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="platsa-import-") as tmp:
        folder = Path(tmp)
        if media in ("application/zip", "application/x-zip-compressed", "application/octet-stream"):
            body = await request.body()
            if len(body) > limit:
                raise TooLarge(f"uploads are limited to {limit:,} bytes")
            await run_in_threadpool(_unzip, body, folder, limit, problems, "upload")
        elif media == "multipart/form-data":
            await _read_form(request, folder, limit, problems)
        else:
            raise UnsupportedMedia("send application/zip or multipart/form-data")
        return await run_in_threadpool(_import, state, caller, folder, problems)


async def _read_form(request: Request, folder: Path, limit: int, problems: list[Problem]) -> None:
    try:
        form = await request.form(max_files=64, max_fields=64)
    except AssertionError:  # starlette asserts python-multipart is installed
        raise UnsupportedMedia("multipart uploads need python-multipart; send application/zip") from None
    except Exception as exc:  # a malformed multipart body
        raise UnsupportedMedia(f"unreadable multipart body: {exc}") from None
    try:
        for _, item in form.multi_items():
            if isinstance(item, str):
                continue
            name = PurePosixPath(item.filename or "").name
            data = await item.read()
            if len(data) > limit:
                raise TooLarge(f"uploads are limited to {limit:,} bytes")
            if name.endswith(".zip"):
                _unzip(data, folder, limit, problems, name)
            elif name in _ALLOWED_NAMES:
                (folder / name).write_bytes(data)
            else:
                problems.append(Problem(name or "(no file name)", None, None, None,
                                        "not a region file (region.toml, <table>.csv or <table>.parquet)"))
    finally:
        await form.close()

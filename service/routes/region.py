"""Bulk import of a region: all or nothing, with every problem listed.

The upload is either a zip of a region folder (``Content-Type: application/zip``, or one ``.zip``
file in a multipart form) or the folder's files themselves in a multipart form (``region.toml`` and
``<table>.csv`` / ``<table>.parquet``). The files are gathered into one folder by
:class:`scoring.region.RegionUpload` (two files of one name are a problem, not the last one
winning) and checked with :func:`scoring.region.validate_region`, as ``platsa validate`` checks
them; any problem answers 422 with every problem (file, row, column, value, reason) and changes
nothing. A valid region replaces the stored one in one transaction, and the in-memory pool is
rebuilt from it.

Nothing done through the API since the last import is lost without a word. Rows of procurements,
places and candidates that the API created or changed, and that the upload would drop or overwrite,
are refused (409, every row), merged (``mode=merge``) or replaced (``mode=replace``), and the answer
lists them (:mod:`service.edits`). Proposals made or answered through Platsa are kept
(:mod:`service.integration.history`); an upload that cannot keep them answers 409 with every
problem, and changes nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from scoring.exceptions import RegionValidationError
from scoring.region import RegionUpload, validate_region
from service import audit, changes, store
from service.auth import Principal
from service.deps import Staff, State
from service.edits import Edit, Mode
from service.errors import ServiceError, problem_responses
from service.models import ImportReport, RegionEdit
from service.routes._common import StrictQueryRoute
from service.state import ServiceState

router = APIRouter(prefix="/v1/region", tags=["region"], route_class=StrictQueryRoute)

ModeQuery = Annotated[Mode | None, Query(
    description="What to do with rows of procurements, places and candidates that the API created or "
                "changed since the last import and the upload would drop or overwrite. Absent: refuse "
                "the import (409, listing them). `merge`: keep what the API did (the API is the later "
                "word), take every other row from the upload. `replace`: take the upload's rows, and "
                "list what the API did that is gone.", examples=["merge"])]


class TooLarge(ServiceError):
    status, slug, title = 413, "too-large", "Content too large"


class UnsupportedMedia(ServiceError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def _unzip(data: bytes, upload: RegionUpload, limit: int, label: str | None) -> None:
    """Unpack an uploaded zip; ``label`` is its file name in a form (None: the request body)."""
    archive = upload.open_zip(data, label or "upload")
    if archive is None:
        return
    with archive:
        if sum(m.file_size for m in archive.infolist() if not m.is_dir()) > limit:
            raise TooLarge(f"the zip unpacks to more than {limit:,} bytes")
        upload.add_zip(archive, label)


def _api_rows(what: str, rows: Sequence[Edit], shown: int = 100) -> str:
    """For the audit entry: the API's rows an import merged or discarded (the answer lists them all)."""
    if not rows:
        return ""
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    return f"; API rows {what}: {[f'{e.table} {e.id}' for e in rows[:shown]]}{more}"


def _import(state: ServiceState, caller: Principal, upload: RegionUpload, mode: Mode | None) -> ImportReport:
    # The policy is checked with the files (it must resolve and fit): nothing is written for a region
    # the service could not then load.
    region, found = validate_region(upload.folder, policy_dirs=state.settings.policy_dirs)
    problems = upload.problems + found
    if problems or region is None:
        raise RegionValidationError(problems)
    with state.writer.begin() as conn:
        stored = store.replace_region(conn, region, mode)
        counted = changes.count(conn)  # every other process on the database rebuilds too (service/changes.py)
        audit.record(conn, caller, "import", "region", region.manifest.region,
                     detail=f"version {stored.version}: {stored.counts}; kept from Platsa's record: "
                            f"{stored.kept}{_api_rows('merged', stored.merged)}"
                            f"{_api_rows('discarded', stored.discarded)}")
    state.expect(counted)  # this process rebuilds for it now: the watcher need not ask
    state.reload()
    return ImportReport(region=region.manifest.region, version=stored.version, counts=stored.counts,
                        kept=stored.kept, ignored_proposals=stored.ignored_proposals,
                        merged=[RegionEdit.model_validate(e.to_dict()) for e in stored.merged],
                        discarded=[RegionEdit.model_validate(e.to_dict()) for e in stored.discarded])


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
             responses=problem_responses(401, 403, "region-edit-conflict", "region-history-conflict", 413,
                                         415, "invalid-region", 422))
async def import_region(request: Request, caller: Staff, state: State,
                        mode: ModeQuery = None) -> ImportReport:
    """Rows created or changed through the API since the last import are never lost without a word:
    without `mode` an upload that would drop or overwrite one is refused, listing every one;
    `mode=merge` keeps what the API did, `mode=replace` takes the upload's rows, and the answer lists
    them (`docs/api.md`, "Bulk import"). Proposals made or answered through Platsa, and their
    placements, are kept across the import (`docs/integration.md`, "Re-importing the region"); the
    answer says how many."""
    limit = state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"uploads are limited to {limit:,} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with tempfile.TemporaryDirectory(prefix="platsa-import-") as tmp:
        upload = RegionUpload(Path(tmp))
        if media in ("application/zip", "application/x-zip-compressed", "application/octet-stream"):
            body = await request.body()
            if len(body) > limit:
                raise TooLarge(f"uploads are limited to {limit:,} bytes")
            await run_in_threadpool(_unzip, body, upload, limit, None)
        elif media == "multipart/form-data":
            await _read_form(request, upload, limit)
        else:
            raise UnsupportedMedia("send application/zip or multipart/form-data")
        return await run_in_threadpool(_import, state, caller, upload, mode)


async def _read_form(request: Request, upload: RegionUpload, limit: int) -> None:
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
            name = item.filename or ""
            data = await item.read()
            if len(data) > limit:
                raise TooLarge(f"uploads are limited to {limit:,} bytes")
            if name.endswith(".zip"):
                _unzip(data, upload, limit, PurePosixPath(name).name)
            else:
                upload.add_file(name, data)
    finally:
        await form.close()

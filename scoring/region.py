"""Loading, validating and writing a region: a folder of tables and a ``region.toml`` manifest.

Validation reads every table, checks every column against :mod:`scoring.schema` and the references
between tables, and either returns a whole :class:`Region` or raises
:class:`~scoring.exceptions.RegionValidationError` with every problem found (file, row, column,
value, reason). Nothing is half-loaded: the caller gets all tables or none.

Checks are column-wise polars expressions, so a million-row region validates in seconds.

The manifest's policy must resolve (a shipped id, or ``<id>.toml`` in the caller's policy folders)
and fit the region (its distribution keys name only the region's districts): a region is not valid
without the rules it is to be matched by (:func:`check_policy`).

Mistakes in the files themselves are refused with what to do about them, not guessed around: a table
given both as CSV and as Parquet, a CSV separated by semicolons (what Excel writes with Swedish
settings), and two files of one name in an upload (:class:`RegionUpload`, for zips and forms).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import shutil
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl

from scoring.competence import spaced_key
from scoring.exceptions import PolicyError, Problem, RegionValidationError
from scoring.policy import POLICY_ID, Policy, load_named_policy, policy_ids
from scoring.schema import (
    DATE_RANGE,
    ERASED_PREFIX,
    ID_PATTERN,
    ID_RULE,
    LIST_SEPARATOR,
    TABLES,
    Column,
    Table,
)

logger = logging.getLogger(__name__)

MANIFEST = "region.toml"
#: The formats a table may be given in, as file suffixes.
TABLE_SUFFIXES = (".csv", ".parquet")
#: Every name a region folder's files may have: the manifest and each table in each format.
REGION_FILE_NAMES = frozenset({MANIFEST} | {f"{t}{suffix}" for t in TABLES for suffix in TABLE_SUFFIXES})
#: How many problems of one kind (table, column, reason) are listed row by row; the rest are counted.
MAX_ROWS_PER_PROBLEM = 20


@dataclass(frozen=True)
class Manifest:
    """What a region folder is: its name, default policy, the day its data describes, and its origin."""

    region: str
    policy: str
    reference_date: dt.date
    """The "today" of the data: ages and registration times are counted on this day."""
    size: str = ""
    seed: int | None = None
    generator: str = ""

    def to_toml(self) -> str:
        lines = [
            f'region = "{self.region}"',
            f'policy = "{self.policy}"',
            f"reference_date = {self.reference_date.isoformat()}",
        ]
        if self.size:
            lines.append(f'size = "{self.size}"')
        if self.seed is not None:
            lines.append(f"seed = {self.seed}")
        if self.generator:
            lines.append(f'generator = "{self.generator}"')
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Region:
    """A loaded, validated region: one polars DataFrame per table, in schema column order."""

    manifest: Manifest
    districts: pl.DataFrame
    occupations: pl.DataFrame
    suppliers: pl.DataFrame
    procurements: pl.DataFrame
    places: pl.DataFrame
    candidates: pl.DataFrame
    proposals: pl.DataFrame
    placements: pl.DataFrame

    def table(self, name: str) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(self, name)
        return frame

    def counts(self) -> dict[str, int]:
        return {name: self.table(name).height for name in TABLES}


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def table_files(folder: Path, table: str) -> list[Path]:
    """The files holding ``table`` in ``folder``: ``<table>.csv`` and/or ``<table>.parquet``.

    More than one is a mistake that :func:`validate_region` reports: which of the two is meant
    cannot be guessed.
    """
    return [path for suffix in TABLE_SUFFIXES if (path := folder / f"{table}{suffix}").exists()]


def _semicolon_separated(path: Path, table: Table) -> bool:
    """Whether a CSV file's header names the table's columns only when split on ``;``.

    Excel with Swedish settings saves "CSV" separated by semicolons (the decimal comma takes the
    comma); read as comma-separated, such a header is one long column name.
    """
    with path.open("rb") as file:
        header = file.readline(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff")
    names = {c.name for c in table.columns}

    def known(separator: str) -> int:
        return len(names & {part.strip().strip('"') for part in header.split(separator)})

    return known(";") > known(",")


def read_manifest(folder: Path) -> tuple[Manifest | None, list[Problem]]:
    path = folder / MANIFEST
    if not path.exists():
        return None, [Problem(MANIFEST, None, None, None, "missing: every region folder needs a region.toml")]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return None, [Problem(MANIFEST, None, None, None, f"not valid TOML: {exc}")]
    problems = []
    for key in ("region", "policy", "reference_date"):
        if key not in data:
            problems.append(Problem(MANIFEST, None, key, None, "missing"))
    ref = data.get("reference_date")
    if ref is not None and not isinstance(ref, dt.date):
        problems.append(Problem(MANIFEST, None, "reference_date", str(ref), "must be a date, YYYY-MM-DD"))
    if problems:
        return None, problems
    return Manifest(
        region=str(data["region"]),
        policy=str(data["policy"]),
        reference_date=data["reference_date"],
        size=str(data.get("size", "")),
        seed=data.get("seed"),
        generator=str(data.get("generator", "")),
    ), []


def _read_raw(path: Path, table: Table) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Read a file with every column as it is (strings for CSV), without casting yet."""
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path), []
        # CSV: read everything as text, so that each bad cell can be named, then cast column-wise.
        return pl.read_csv(path, infer_schema=False, encoding="utf8"), []
    except Exception as exc:  # polars raises several kinds for unreadable files
        return None, [Problem(path.name, None, None, None, f"cannot be read as {path.suffix[1:]}: {exc}")]


_TRUE = {"true", "1", "yes", "ja", "t"}
_FALSE = {"false", "0", "no", "nej", "f"}


def _cast_expr(col: Column, actual: pl.DataType) -> pl.Expr:
    """An expression turning the raw column into the declared type; unparseable cells become null."""
    c = pl.col(col.name)
    target = col.dtype
    if actual == target:
        return c
    if isinstance(target, pl.List) or target == pl.List:
        if actual == pl.String:
            return (
                pl.when(c.is_null() | (c.str.strip_chars() == ""))
                .then(pl.lit([], dtype=pl.List(pl.String)))
                .otherwise(c.str.split(LIST_SEPARATOR).list.eval(pl.element().str.strip_chars()))
            )
        return c.cast(target, strict=False)
    if actual == pl.String:
        text = c.str.strip_chars()
        if target == pl.Boolean:
            low = text.str.to_lowercase()
            return pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False)
        if target == pl.Date:
            return text.str.to_date("%Y-%m-%d", strict=False)
        if target == pl.String:
            return pl.when(text == "").then(None).otherwise(text)
        return text.cast(target, strict=False)
    return c.cast(target, strict=False)


def _problems_for_mask(
    frame: pl.DataFrame, mask: pl.Series, file: str, column: str, values: pl.Series, reason: str
) -> list[Problem]:
    rows = mask.arg_true()
    if rows.len() == 0:
        return []
    out = [
        Problem(file, int(r) + 1, column, None if values[int(r)] is None else str(values[int(r)]), reason)
        for r in rows.head(MAX_ROWS_PER_PROBLEM)
    ]
    if rows.len() > MAX_ROWS_PER_PROBLEM:
        out.append(Problem(file, None, column, None,
                           f"{reason}: {rows.len() - MAX_ROWS_PER_PROBLEM} more rows like the ones above"))
    return out


def _validate_table(raw: pl.DataFrame, table: Table, file: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    problems: list[Problem] = []
    absent = [c for c in table.columns if c.name not in raw.columns]
    missing = [c.name for c in absent if not c.may_be_absent]
    for name in missing:
        problems.append(Problem(file, None, name, None, "column missing"))
    if absent and not missing:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(c.name) for c in absent)
    extra = [name for name in raw.columns if name not in {c.name for c in table.columns}]
    for name in extra:
        problems.append(Problem(file, None, name, None, "unknown column (check the spelling)"))
    if missing:
        return None, problems

    casts = [_cast_expr(c, raw.schema[c.name]).alias(c.name) for c in table.columns]
    try:
        typed = raw.select(casts)
    except Exception as exc:
        problems.append(Problem(file, None, None, None, f"cannot read the columns' types: {exc}"))
        return None, problems

    for col in table.columns:
        raw_values = raw.get_column(col.name)
        values = typed.get_column(col.name)
        raw_null = raw_values.is_null()
        if raw_values.dtype == pl.String:
            raw_null = raw_null | (raw_values.str.strip_chars() == "")
        cast_failed = values.is_null() & ~raw_null
        problems += _problems_for_mask(typed, cast_failed, file, col.name, raw_values,
                                       f"not a valid {_type_words(col)}")
        if col.required and not isinstance(col.dtype, pl.List):
            problems += _problems_for_mask(typed, raw_null, file, col.name, raw_values, "value missing")
        if col.minimum is not None:
            problems += _problems_for_mask(typed, (values < col.minimum).fill_null(False), file, col.name,
                                           raw_values, f"must be at least {col.minimum:g}")
        if col.maximum is not None:
            problems += _problems_for_mask(typed, (values > col.maximum).fill_null(False), file, col.name,
                                           raw_values, f"must be at most {col.maximum:g}")
        if col.is_id:
            bad_id = (~values.str.contains(ID_PATTERN)).fill_null(False)
            problems += _problems_for_mask(typed, bad_id, file, col.name, raw_values, f"not an id: {ID_RULE}")
        if col.dtype == pl.Date:
            first, last = DATE_RANGE
            problems += _problems_for_mask(typed, ((values < first) | (values > last)).fill_null(False), file,
                                           col.name, raw_values, f"must be between {first} and {last}")
        if col.allowed is not None:
            allowed = list(col.allowed)
            if isinstance(col.dtype, pl.List):
                bad = values.list.eval(~pl.element().is_in(allowed)).list.any().fill_null(False)
            else:
                bad = (~values.is_in(allowed)).fill_null(False)
            problems += _problems_for_mask(typed, bad, file, col.name, raw_values,
                                           f"must be one of {', '.join(allowed)}")
        if col.unique:
            dup = values.is_duplicated() & values.is_not_null()
            problems += _problems_for_mask(typed, dup, file, col.name, raw_values, "duplicate id")
    return typed, problems


def _type_words(col: Column) -> str:
    if col.dtype == pl.Date:
        return "date (YYYY-MM-DD)"
    if col.dtype == pl.Boolean:
        return "true/false value"
    if col.dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64):
        return "whole number"
    if col.dtype == pl.Float64:
        return "number"
    return str(col.dtype)


def _cross_checks(frames: dict[str, pl.DataFrame], files: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for table in TABLES.values():
        frame = frames.get(table.name)
        if frame is None:
            continue
        for col in table.columns:
            if col.references is None:
                continue
            ref_table, ref_col = col.references
            ref = frames.get(ref_table)
            if ref is None:
                continue
            known = ref.get_column(ref_col)
            values = frame.get_column(col.name)
            bad = (~values.is_in(known.implode())).fill_null(False) & values.is_not_null()
            if ref_table == "candidates":
                # An erased person's history keeps a pseudonym that names no candidate, by design
                # (service/subject.py, docs/data-protection.md).
                bad &= ~values.cast(pl.String).str.starts_with(ERASED_PREFIX).fill_null(False)
            problems += _problems_for_mask(frame, bad, files[table.name], col.name, values,
                                           f"no such {ref_col} in {ref_table}")
    procurements = frames.get("procurements")
    if procurements is not None:
        file = files["procurements"]
        bad = (procurements["contract_end"] < procurements["contract_start"]).fill_null(False)
        problems += _problems_for_mask(procurements, bad, file, "contract_end", procurements["contract_end"],
                                       "contract ends before it starts")
        hard = procurements["requirement_type"] == "hard"
        bad = (hard & (procurements["required_places"] < 1)).fill_null(False)
        problems += _problems_for_mask(procurements, bad, file, "required_places",
                                       procurements["required_places"],
                                       "a hard requirement needs at least 1 place")
    places, procurements = frames.get("places"), frames.get("procurements")
    if places is not None and procurements is not None:
        joined = places.select("place_id", "supplier_id", "procurement_id").join(
            procurements.select("procurement_id", pl.col("supplier_id").alias("winner")),
            on="procurement_id", how="left", maintain_order="left",
        )
        bad = (joined["supplier_id"] != joined["winner"]).fill_null(False)
        problems += _problems_for_mask(joined, bad, files["places"], "supplier_id", joined["supplier_id"],
                                       "not the supplier that won the place's procurement")
    if places is not None:
        problems += _learnable_checks(places, files["places"])
    return problems


def learnable_not_required(required: Iterable[str], learnable: Iterable[str]) -> list[str]:
    """The labels of ``learnable`` that name no competence of ``required`` (compared as spaced keys).

    Examples
    --------
    >>> learnable_not_required(["Lokalvård", "B-körkort"], ["lokalvård ", "Truckkort"])
    ['Truckkort']
    """
    keys = {spaced_key(r) for r in required}
    return [label for label in learnable if spaced_key(label) not in keys]


def _learnable_checks(places: pl.DataFrame, file: str) -> list[Problem]:
    """A competence a place teaches on the job must be one it requires (compared as spaced keys)."""
    required = places["competences_required"].to_list()
    learnable = places["competences_learnable"].to_list()
    stray = [";".join(learnable_not_required(need or [], taught or [])) or None
             for need, taught in zip(required, learnable, strict=True)]
    values = pl.Series(stray, dtype=pl.String)
    return _problems_for_mask(places, values.is_not_null(), file, "competences_learnable", values,
                              "not among the place's competences_required (list it there too)")


def check_references(region: Region) -> list[Problem]:
    """The rules between tables of :func:`validate_region`, over a region already in memory.

    For a region put together from parts that were each valid (the service's merge of an upload with
    rows created through its API): every reference names a row that is there, a place's supplier
    won its procurement, contracts end after they start. A problem's ``file`` is the table's name
    and ``row`` its 1-based row in ``region``'s frame.
    """
    frames = {name: region.table(name) for name in TABLES}
    return _cross_checks(frames, {name: name for name in TABLES})


def check_policy(manifest: Manifest, districts: pl.DataFrame | None, *,
                 search_dirs: Iterable[Path] = ()) -> tuple[Policy | None, list[Problem]]:
    """The policy ``region.toml`` names, if it resolves and fits the region; else every problem.

    Parameters
    ----------
    manifest
        The region's manifest; its ``policy`` is an id, found as :func:`scoring.policy.load_named_policy`
        finds it (``<id>.toml`` in ``search_dirs`` first, then the shipped policies).
    districts
        The region's ``districts`` table; None when it could not be read (the fit is not checked).
    search_dirs
        Folders of extra policy files (the service's ``PLATSA_POLICY_DIR``).

    Returns
    -------
    tuple
        The policy (None if it does not resolve, or does not fit) and the problems, each on
        ``region.toml``, column ``policy``, with the id as its value.
    """
    policy_id = manifest.policy
    dirs = tuple(search_dirs)

    def problem(reason: str) -> Problem:
        return Problem(MANIFEST, None, "policy", policy_id, reason)

    known = ", ".join(policy_ids(dirs))
    if not POLICY_ID.fullmatch(policy_id):
        return None, [problem(f"not a policy id (lowercase letters, digits, '-' and '_'; never a path): name "
                              f"one of the policies: {known}")]
    if policy_id not in policy_ids(dirs):
        return None, [problem(f"no policy named {policy_id!r}; the policies are: {known} (name one of them, "
                              f"or put {policy_id}.toml in the policy folder)")]
    try:
        policy = load_named_policy(policy_id, search_dirs=dirs)
    except PolicyError as exc:
        return None, [problem(f"policy {policy_id!r} cannot be loaded: {p.describe()}") for p in exc.problems]
    if districts is None:
        return policy, []
    have = set(districts.get_column("district_id").to_list())
    lacking = [d for d in policy.distribution.keys if d not in have]
    if lacking:
        return None, [problem(f"policy {policy_id!r} has distribution keys for districts the region lacks: "
                              f"{', '.join(lacking)}; add them to districts, or name a policy whose keys are "
                              "the region's districts")]
    return policy, []


def validate_region(folder: str | Path, *,
                    policy_dirs: Iterable[Path] | None = ()) -> tuple[Region | None, list[Problem]]:
    """Read and check every table of a region folder; return the region (or None) and every problem.

    Parameters
    ----------
    folder
        The region folder.
    policy_dirs
        Folders of extra policy files, searched for the manifest's policy before the shipped ones
        (:func:`check_policy`); None leaves the policy unchecked (a caller that uses another one).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None, [Problem(str(folder), None, None, None, "not a folder")]
    manifest, problems = read_manifest(folder)
    frames: dict[str, pl.DataFrame] = {}
    files: dict[str, str] = {}
    for table in TABLES.values():
        found = table_files(folder, table.name)
        if not found:
            if table.optional:
                frames[table.name] = pl.DataFrame(schema=table.polars_schema)
                files[table.name] = f"{table.name}.csv"
                continue
            problems.append(Problem(f"{table.name}.csv", None, None, None,
                                    f"missing: no {table.name}.parquet or {table.name}.csv"))
            continue
        if len(found) > 1:
            names = " and ".join(path.name for path in found)
            problems.append(Problem(found[0].name, None, None, None,
                                    f"both {names} hold table {table.name}: keep one of them"))
            continue
        path = found[0]
        files[table.name] = path.name
        if path.suffix == ".csv" and _semicolon_separated(path, table):
            problems.append(Problem(path.name, None, None, None,
                                    "this file is separated by semicolons (Swedish Excel's default); save "
                                    "it as comma-separated CSV (UTF-8)"))
            continue
        raw, read_problems = _read_raw(path, table)
        problems += read_problems
        if raw is None:
            continue
        typed, table_problems = _validate_table(raw, table, path.name)
        problems += table_problems
        if typed is not None:
            frames[table.name] = typed
    problems += _cross_checks(frames, files)
    if manifest is not None and policy_dirs is not None:
        problems += check_policy(manifest, frames.get("districts"), search_dirs=policy_dirs)[1]
    if problems or manifest is None or len(frames) != len(TABLES):
        return None, problems
    return Region(manifest=manifest, **frames), []


def load_region(folder: str | Path, *, policy_dirs: Iterable[Path] | None = ()) -> Region:
    """Load a validated region, or raise :class:`RegionValidationError` listing every problem.

    ``policy_dirs`` as for :func:`validate_region`.
    """
    region, problems = validate_region(folder, policy_dirs=policy_dirs)
    if region is None:
        raise RegionValidationError(problems)
    logger.info("loaded region %s: %s", region.manifest.region, region.counts())
    return region


class RegionUpload:
    """A region folder filled from uploaded files: single files and zip archives.

    Only a region's files are taken (:data:`REGION_FILE_NAMES`; a zip's folders are not kept, and
    hidden files and ``__MACOSX`` entries are skipped). Whatever else is found, and any two files
    of one name (``a/candidates.csv`` and ``b/candidates.csv``, of which one would otherwise
    silently replace the other), is a problem in :attr:`problems`; the caller refuses the upload
    when there is any. The HTTP import and ``platsa validate`` of a zip both fill a folder with it,
    then check the folder with :func:`validate_region`.

    Parameters
    ----------
    folder
        An empty folder to write the files into.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     upload = RegionUpload(Path(tmp))
    ...     upload.add_file("region.toml", b'region = "x"')
    ...     upload.add_file("notes.txt", b"hello")
    ...     [p.describe() for p in upload.problems]
    ['notes.txt: not a region file (region.toml, <table>.csv or <table>.parquet)']
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.problems: list[Problem] = []
        self._sources: dict[str, str] = {}

    def _claim(self, name: str, source: str) -> bool:
        """Whether ``name`` may be written for ``source`` (a problem is recorded if not)."""
        if name not in REGION_FILE_NAMES:
            self.problems.append(Problem(source, None, None, None,
                                         "not a region file (region.toml, <table>.csv or <table>.parquet)"))
            return False
        first = self._sources.get(name)
        if first is not None:
            self.problems.append(Problem(source, None, None, None,
                                         f"{first} and {source} are both named {name}: keep one of them"))
            return False
        self._sources[name] = source
        return True

    def add_file(self, name: str, data: bytes) -> None:
        """Take one uploaded file, ``name`` as the client sent it (its folders are not kept)."""
        base = PurePosixPath(name).name
        if self._claim(base, name or "(no file name)"):
            (self.folder / base).write_bytes(data)

    def open_zip(self, source: bytes | Path, label: str) -> zipfile.ZipFile | None:
        """``source`` (its bytes, or a file) as a zip archive, or None and a problem on ``label``."""
        try:
            return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        except (zipfile.BadZipFile, OSError):
            self.problems.append(Problem(label, None, None, None, "not a zip file"))
            return None

    def add_zip(self, archive: zipfile.ZipFile, label: str | None = None) -> None:
        """Take every region file of ``archive`` (the caller has checked its unpacked size).

        Problems name a member by its path in the archive, after ``label`` (the archive's own name)
        when one is given: an upload of several files names the archive too.
        """
        for member in archive.infolist():
            if member.is_dir():
                continue
            base = PurePosixPath(member.filename).name
            if base.startswith(".") or "__MACOSX" in member.filename:
                continue
            source = member.filename if label is None else f"{label}: {member.filename}"
            if self._claim(base, source):
                with archive.open(member) as packed, (self.folder / base).open("wb") as target:
                    shutil.copyfileobj(packed, target)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_region(region: Region, folder: str | Path, *, fmt: str = "parquet") -> list[Path]:
    """Write a region as ``fmt`` files (``parquet`` or ``csv``) plus its manifest.

    Files are first written beside their final names and renamed into place, so that an interrupted
    write never leaves a folder that mixes old and new tables under their real names.
    Parquet is written without statistics timestamps, so the same region gives the same bytes.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}: parquet or csv")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    for name in TABLES:
        frame = region.table(name)
        final = folder / f"{name}.{fmt}"
        tmp = folder / f".{name}.{fmt}.tmp"
        if fmt == "parquet":
            frame.write_parquet(tmp, compression="zstd", statistics=False)
        else:
            to_text = [
                pl.col(c).list.join(LIST_SEPARATOR) if isinstance(t, pl.List) else pl.col(c)
                for c, t in frame.schema.items()
            ]
            frame.select(to_text).write_csv(tmp)
        staged.append((tmp, final))
    manifest_tmp = folder / f".{MANIFEST}.tmp"
    manifest_tmp.write_text(region.manifest.to_toml(), encoding="utf-8")
    staged.append((manifest_tmp, folder / MANIFEST))
    for tmp, final in staged:
        tmp.replace(final)
    # Remove a table left over in the other format, which would otherwise shadow or confuse.
    other = "csv" if fmt == "parquet" else "parquet"
    for name in TABLES:
        (folder / f"{name}.{other}").unlink(missing_ok=True)
    return [final for _, final in staged]


def region_from_frames(manifest: Manifest, frames: dict[str, pl.DataFrame]) -> Region:
    """Build a :class:`Region` from frames, casting to the schema's column order and types."""
    cast: dict[str, pl.DataFrame] = {}
    for name, table in TABLES.items():
        frame = frames.get(name)
        if frame is None:
            frame = pl.DataFrame(schema=table.polars_schema)
        cast[name] = frame.select([
            pl.col(c.name).cast(c.dtype) if c.name in frame.columns or not c.may_be_absent
            else pl.lit(None, dtype=c.dtype).alias(c.name)
            for c in table.columns
        ])
    return Region(manifest=manifest, **cast)


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    for problem in problems:
        yield problem.describe()

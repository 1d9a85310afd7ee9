"""Read an uploaded table (CSV, JSON or Parquet) into a typed Arrow table, or say exactly what is
wrong with it.

No ORM and no settings here: a path on disk goes in, a `ParsedTable` comes out, or a `TableError`
listing the problems a person has to fix ("column `temp` row 17: 'abc' is not a number").

Row numbers in messages count data rows the way a person reads the file: the first row after the
header is row 1 (blank lines are not rows). A JSON file's first record, or its columns' first item,
is row 1 too. Ragged CSV rows also name the line of the file, which counts the header and blank
lines.

Column kinds: number (integers and decimals), boolean (true/false), datetime and text. A column
whose values are mostly numbers is a number column, and its other cells are errors. Missing values
(empty cells, NA, null, ...) are allowed everywhere except in the label and timestamp columns, and
are counted per column. The stored table is normalised: numbers as int64 or float64, datetimes as
UTC timestamps (values without a zone are taken as UTC), text as strings.
"""

from __future__ import annotations

import codecs
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

FORMATS = ("csv", "json", "parquet")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "json",
    "application/jsonl": "json",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
# Strings that mean "no value" in any format (the CSV reader has its own list, holding these).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-nan"})
LABEL_NAMES = ("label", "is_anomaly")
TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime")
# A text column is read as numbers when more than this share of its non-missing cells are numbers
# (the rest are then reported as errors), and likewise for the timestamp column and dates.
MOSTLY = 0.5
MAX_ERRORS = 10  # messages listed in all; the rest are counted
MAX_CELL_ERRORS = 10  # bad cells listed per column
CHUNK = 1 << 20


class TableError(Exception):
    """The file cannot be used. `errors` are whole sentences (at most MAX_ERRORS, then a count);
    `fields` maps a column (or `file`, `label_column`, `timestamp_column`) to its messages."""

    def __init__(self, errors: list[str], fields: dict[str, list[str]] | None = None):
        self.errors = list(errors)
        self.fields = dict(fields or {})
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "; ".join(self.errors)


@dataclass
class ParsedTable:
    table: pa.Table
    columns: list[dict]  # [{"name", "kind": number|text|boolean|datetime, "missing"}]
    label_column: str | None
    timestamp_column: str | None
    row_count: int
    source_format: str

    @property
    def feature_columns(self) -> list[str]:
        skip = {self.label_column, self.timestamp_column}
        return [c["name"] for c in self.columns if c["kind"] == "number" and c["name"] not in skip]


@dataclass
class _Problems:
    """Collects messages; each is a full sentence plus its place in `fields`, and stands for
    `count` problems (a line "and 40 more rows like these" stands for 40)."""

    items: list[tuple[str, str, str, int]] = field(default_factory=list)

    def file(self, message: str, count: int = 1) -> None:
        self.items.append(("file", message, message, count))

    def option(self, name: str, message: str) -> None:
        self.items.append((name, message, message, 1))

    def column(self, column: str, detail: str, count: int = 1) -> None:
        self.items.append((column, detail, f"column `{column}` {detail}", count))

    def cell(self, column: str, row: int, detail: str) -> None:
        self.column(column, f"row {row}: {detail}")

    def more_cells(self, column: str, count: int) -> None:
        self.column(column, f"and {count} more rows like these", count)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors = [sentence for _, _, sentence, _ in self.items[:MAX_ERRORS]]
        rest = sum(count for *_, count in self.items[MAX_ERRORS:])
        if rest:
            errors.append(f"and {rest} more")
        fields: dict[str, list[str]] = {}
        for name, detail, _, _ in self.items:
            fields.setdefault(name, []).append(detail)
        raise TableError(errors, fields)


def fail(message: str) -> TableError:
    return TableError([message], {"file": [message]})


def _show(value, limit: int = 40) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


# --- Which format -----------------------------------------------------------------------------


def guess_format(path: str | Path, filename: str = "", content_type: str = "") -> str:
    """Parquet by its magic bytes; else the file name's extension; else the content type; else
    the first character (`[` or `{` is JSON, anything else CSV)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    suffix = Path(filename).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    kind = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind:
        return kind
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped[:1] in (b"[", b"{") else "csv"


# --- Text checks shared by CSV and JSON --------------------------------------------------------


def _check_text(path: str | Path) -> None:
    """Stream the file once: empty, compressed, binary or not UTF-8 files stop here."""
    size = Path(path).stat().st_size
    if size == 0:
        raise fail("the file is empty")
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    blank = True
    with open(path, "rb") as f:
        first = True
        while chunk := f.read(CHUNK):
            if first:
                _check_magic(chunk)
                first = False
            nul = chunk.find(b"\0")
            if nul >= 0:
                line = lines + chunk.count(b"\n", 0, nul)
                raise fail(
                    "the file is not UTF-8 text: it holds binary data "
                    f"(a NUL byte on line {line}); save it as CSV (UTF-8) or upload it as Parquet"
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.object is this chunk after the decoder's leftover of the last one (no "\n").
                line = lines + exc.object.count(b"\n", 0, exc.start)
                raise fail(
                    f"the file is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} on line "
                    f"{line} is not UTF-8; save it as CSV (UTF-8)"
                ) from None
            lines += chunk.count(b"\n")
            if blank and chunk.strip(b"\xef\xbb\xbf \t\r\n"):
                blank = False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise fail("the file is not UTF-8 text: it ends in the middle of a character") from None
    if blank:
        raise fail("the file is empty (it holds only blank lines)")


def _check_magic(head: bytes) -> None:
    if head.startswith(b"\x1f\x8b"):
        raise fail("the file is gzip-compressed: upload it uncompressed")
    if head.startswith(b"PK\x03\x04"):
        raise fail(
            "the file is a ZIP archive (an Excel workbook?): export the sheet as CSV (UTF-8)"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail("the file is not UTF-8 text: it is UTF-16; save it as CSV (UTF-8)")


# --- CSV -------------------------------------------------------------------------------------


def _first_line(path: str | Path) -> str:
    with open(path, "rb") as f:
        head = f.read(65536)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _delimiter(header: str, filename: str) -> str:
    if Path(filename).suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] and not counts[","] else ","


def _read_csv(path: str | Path, filename: str) -> dict[str, pa.Array | list]:
    _check_text(path)
    header = _first_line(path)
    delimiter = _delimiter(header, filename)
    bad_rows: list = []

    def on_bad_row(row) -> str:
        bad_rows.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=use_threads, block_size=4 << 20),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,  # a quoted value may span lines; it is still one row
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )

    try:
        table = read(use_threads=True)
        if bad_rows:
            # Threads do not know line numbers; read again in one thread to name them.
            bad_rows.clear()
            table = read(use_threads=False)
    except pa.ArrowInvalid as exc:
        raise fail(f"the file is not a readable CSV file: {_arrow_message(exc)}") from None
    if bad_rows:
        problems = _Problems()
        expected = bad_rows[0].expected_columns
        for row in bad_rows[:MAX_ERRORS]:
            where = f"row {row.number - 1} (line {row.number})" if row.number else "a row"
            problems.file(f"{where} has {row.actual_columns} fields, the header has {expected}")
        if len(bad_rows) > MAX_ERRORS:
            problems.file(
                f"and {len(bad_rows) - MAX_ERRORS} more rows with the wrong field count",
                len(bad_rows) - MAX_ERRORS,
            )
        problems.raise_if_any()
    names = [name.strip() for name in table.column_names]
    if names and all(_is_number(name) for name in names):
        shown = ", ".join(names[:5])
        raise fail(
            f"the file has no header: its first row ({shown}) looks like data; add a first row "
            "with the column names"
        )
    return dict(_named_columns(names, table.columns))


def _named_columns(names: list[str], arrays) -> list[tuple[str, pa.Array | list]]:
    """Check the header: no empty names (an unnamed, wholly empty column, as a trailing comma
    leaves, is dropped) and no name twice."""
    problems = _Problems()
    seen: dict[str, int] = {}
    out = []
    for position, (name, array) in enumerate(zip(names, arrays, strict=True), start=1):
        if name == "":
            if _all_missing(array):
                continue
            problems.file(f"column {position} has no name in the header: name it or remove it")
            continue
        if name in seen:
            problems.file(
                f"the column name `{name}` appears twice in the header (columns {seen[name]} "
                f"and {position}): column names must be unique"
            )
            continue
        seen[name] = position
        out.append((name, array))
    problems.raise_if_any()
    return out


def _all_missing(array) -> bool:
    if isinstance(array, list):
        return all(_missing_value(v) for v in array)
    if array.null_count == len(array):
        return True
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return all(_missing_value(v) for v in array.to_pylist())
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arrow_message(exc: Exception) -> str:
    """Arrow's first line, without its prefixes and without our temporary file's path."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)
    return text.removeprefix("CSV parse error: ").removeprefix("JSON parse error: ")


# --- JSON ------------------------------------------------------------------------------------


def _read_json(path: str | Path, filename: str) -> dict[str, pa.Array | list]:
    """A list of records, an object of equal-length columns (also pandas' "columns" and "split"
    orientations), or JSON Lines (one record per line)."""
    _check_text(path)
    if Path(filename).suffix.lower() in (".jsonl", ".ndjson"):
        return _read_json_lines(path)
    with open(path, "rb") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                return _read_json_lines(path)
            raise fail(
                f"the file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise fail("the file is not usable JSON: it is nested too deeply") from None
    if isinstance(data, list):
        return _records(data)
    if isinstance(data, dict):
        return _columns(data)
    raise fail(_json_shape_message(f"it holds a single {_json_kind(data)}"))


def _json_shape_message(found: str) -> str:
    return (
        f"the JSON is neither records nor columns ({found}): send a list of objects "
        '([{"temp": 20.5, "label": 0}, ...]) or an object of equal-length lists '
        '({"temp": [20.5, ...], "label": [0, ...]})'
    )


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _records(records: list) -> dict[str, list]:
    if not records:
        raise fail("the file holds no records: the JSON list is empty")
    if not isinstance(records[0], dict):
        raise fail(_json_shape_message(f"a list of {_json_kind(records[0])}s"))
    columns: dict[str, list] = {}
    problems = _Problems()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            problems.file(f"row {index + 1} is a {_json_kind(record)}, not an object like row 1")
            if len(problems.items) >= MAX_ERRORS:
                break
            continue
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * index
            column.append(value)
        for column in columns.values():
            if len(column) == index:
                column.append(None)
    problems.raise_if_any()
    return _json_columns(columns)


def _columns(data: dict) -> dict[str, list]:
    if set(data) >= {"columns", "data"} and isinstance(data.get("data"), list):
        return _split(data)
    if not data:
        raise fail("the file holds no columns: the JSON object is empty")
    values = list(data.values())
    if all(isinstance(v, dict) for v in values):  # pandas' orient="columns": {"a": {"0": 1}}
        index = list(values[0])
        if any(list(v) != index for v in values):
            raise fail("the JSON columns have different row keys: each must list the same rows")
        data = {name: list(v.values()) for name, v in data.items()}
    elif not all(isinstance(v, list) for v in values):
        name, value = next((k, v) for k, v in data.items() if not isinstance(v, list))
        raise fail(_json_shape_message(f"`{name}` is a {_json_kind(value)}, not a list"))
    lengths = {name: len(v) for name, v in data.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"`{name}` has {n}" for name, n in list(lengths.items())[:6])
        raise fail(f"the JSON columns have different lengths ({shown}): they must be equal")
    return _json_columns(data)


def _split(data: dict) -> dict[str, list]:
    names = data["columns"]
    rows = data["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail('the JSON "columns" must be a list of column names')
    columns: dict[str, list] = {name: [] for name in names}
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            size = len(row) if isinstance(row, list) else 1
            raise fail(f"row {index + 1} has {size} fields, the header has {len(names)}")
        for name, value in zip(names, row, strict=True):
            columns[name].append(value)
    return _json_columns(columns)


def _read_json_lines(path: str | Path) -> dict[str, list]:
    try:
        table = pa_json.read_json(path)
        if not any(pa.types.is_nested(t) for t in table.schema.types):
            names = [n.strip() for n in table.column_names]
            return dict(_named_columns(names, table.columns))
    except pa.ArrowInvalid:
        pass  # mixed types or a bad line: read it line by line to name the row
    records = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise fail(
                    f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}"
                ) from None
    return _records(records)


def _json_columns(columns: dict[str, list]) -> dict[str, pa.Array | list]:
    names = [str(name).strip() for name in columns]
    return dict(_named_columns(names, list(columns.values())))


def _from_python(name: str, values: list, problems: _Problems) -> pa.Array:
    """JSON values of one column -> an Arrow array: numbers, booleans or strings (mixed columns
    become strings, so that the text rules below name each odd cell)."""
    kinds = set()
    for row, value in enumerate(values, start=1):
        if isinstance(value, (dict, list)):
            problems.cell(name, row, f"a nested {_json_kind(value)} is not a value")
            return pa.nulls(len(values), pa.string())
        if value is not None:
            kinds.add(_json_kind(value))
    if kinds == {"number"}:
        if all(isinstance(v, int) for v in values if v is not None):
            try:
                return pa.array(values, type=pa.int64())
            except (pa.ArrowInvalid, OverflowError):
                pass
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds == {"boolean"}:
        return pa.array(values, type=pa.bool_())
    if not kinds:
        return pa.nulls(len(values), pa.string())
    return pa.array([None if v is None else _json_text(v) for v in values], type=pa.string())


def _json_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Parquet ---------------------------------------------------------------------------------


def _read_parquet(path: str | Path) -> dict[str, pa.Array]:
    if Path(path).stat().st_size == 0:
        raise fail("the file is empty")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise fail(f"the file is not a readable Parquet file: {_arrow_message(exc)}") from None
    keep = [n for n in table.column_names if not n.startswith("__index_level_")]
    table = table.select(keep)
    names = [str(n).strip() for n in table.column_names]
    return dict(_named_columns(names, table.columns))


# --- Column kinds ----------------------------------------------------------------------------


@dataclass
class _Column:
    name: str
    kind: str  # number | boolean | datetime | text
    array: pa.Array
    # For text columns that are mostly datetimes: the parsed values and the cells that are not.
    dates: pa.Array | None = None
    bad_dates: list[tuple[int, str]] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return self.array.null_count


def _combine(array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _missing_value(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_TOKENS)


def _type_column(name: str, raw, problems: _Problems) -> _Column:
    array = _from_python(name, raw, problems) if isinstance(raw, list) else _combine(raw)
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_null(t):
        return _Column(name, "text", pa.nulls(len(array), pa.string()))
    if pa.types.is_boolean(t):
        return _Column(name, "boolean", array)
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t):
            return _Column(name, "number", array.cast(pa.float64()))
        return _Column(name, "number", array.cast(pa.int64()))
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        array = array.cast(pa.float64())
        _check_finite(name, array, problems)
        return _Column(name, "number", array)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _Column(name, "datetime", _utc(array))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _text_column(name, array.cast(pa.string()), problems)
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return _Column(name, "text", array.cast(pa.string()))
    problems.column(name, f"has the type {t}, which is not supported: use numbers, text or dates")
    return _Column(name, "text", pa.nulls(len(array), pa.string()))


def _utc(array: pa.Array) -> pa.Array:
    if pa.types.is_date(array.type):
        array = array.cast(pa.timestamp("us"))
    if array.type.tz is None:
        array = pc.assume_timezone(array, "UTC")
    return array.cast(pa.timestamp("us", tz="UTC"))


def _check_finite(name: str, array: pa.Array, problems: _Problems) -> None:
    values = array.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(np.isinf(values))
    _cell_errors(name, bad, array, problems, "is not a finite number")


def _cell_errors(name, rows, source: pa.Array, problems: _Problems, detail: str) -> None:
    for index in rows[:MAX_CELL_ERRORS]:
        value = source[int(index)].as_py()
        problems.cell(name, int(index) + 1, f"{_show(value)} {detail}{_hint(value)}")
    if len(rows) > MAX_CELL_ERRORS:
        problems.more_cells(name, len(rows) - MAX_CELL_ERRORS)


def _hint(value) -> str:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+,\d+\s*", value):
        return " (use a point as the decimal separator)"
    return ""


def _text_column(name: str, array: pa.Array, problems: _Problems) -> _Column:
    """Strings: numbers when mostly numbers (the rest are errors), datetimes when all parse,
    text otherwise. Missing tokens become nulls."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(array))
    missing = pc.or_kleene(pc.is_null(array), pc.is_in(lowered, pa.array(sorted(MISSING_TOKENS))))
    missing = pc.fill_null(missing, True)
    array = pc.if_else(missing, pa.scalar(None, pa.string()), array)
    present = len(array) - array.null_count
    if present == 0:
        return _Column(name, "text", array)

    numbers = _parse_numbers(array)
    bad = pc.and_(pc.is_null(numbers), pc.invert(missing))
    bad_count = pc.sum(bad).as_py() or 0
    if (present - bad_count) / present > MOSTLY:
        rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        _cell_errors(name, rows, array, problems, "is not a number")
        numbers = numbers.cast(pa.float64())
        _check_finite(name, numbers, problems)
        return _Column(name, "number", numbers)

    column = _Column(name, "text", array)
    dates = _parse_dates(array)
    if dates is not None:
        not_dates = pc.and_(pc.is_null(dates), pc.invert(missing))
        rows = np.flatnonzero(not_dates.to_numpy(zero_copy_only=False))
        if len(rows) == 0:
            return _Column(name, "datetime", dates)
        if (present - len(rows)) / present > MOSTLY:
            column.dates = dates
            column.bad_dates = [(int(i) + 1, array[int(i)].as_py()) for i in rows]
    return column


def _parse_numbers(array: pa.Array) -> pa.Array:
    try:
        return pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    series = pd.to_numeric(pd.Series(array.to_numpy(zero_copy_only=False)), errors="coerce")
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    # to_numeric reads "nan" and "inf" spellings too; only the missing tokens may be empty.
    return pa.array(values, type=pa.float64(), from_pandas=True)


def _parse_dates(array: pa.Array) -> pa.Array | None:
    """Datetimes as UTC when a sample of the strings parse as dates, else None."""
    sample = array.drop_null().slice(0, 50).to_pylist()
    if not sample or all(_is_number(s) for s in sample):
        return None
    best = None
    for fmt in ("ISO8601", None):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed_sample = pd.to_datetime(
                    pd.Series(sample), utc=True, errors="coerce", format=fmt
                )
                if parsed_sample.notna().mean() <= MOSTLY:
                    continue
                parsed = pd.to_datetime(
                    pd.Series(array.to_numpy(zero_copy_only=False)),
                    utc=True,
                    errors="coerce",
                    format=fmt,
                )
        except (ValueError, TypeError, OverflowError):
            continue
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
        if best.notna().sum() == len(array) - array.null_count:
            break
    if best is None:
        return None
    return pa.array(best.dt.as_unit("us"), type=pa.timestamp("us", tz="UTC"), from_pandas=True)


# --- Label and timestamp ---------------------------------------------------------------------


def _find(columns: dict[str, _Column], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    folded = [name for name in columns if name.casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def _no_such_column(option: str, wanted: str, columns: dict[str, _Column], problems) -> None:
    names = ", ".join(f"`{n}`" for n in list(columns)[:12])
    more = " ..." if len(columns) > 12 else ""
    problems.option(option, f"there is no column `{wanted}` in the file (columns: {names}{more})")


def _label_problem(column: _Column) -> tuple[str, int | None] | None:
    """Why this column cannot be the label, or None. Labels are 0/1 or true/false on every row."""
    if column.kind not in ("number", "boolean"):
        return (f"holds {column.kind}, but a label must be 0/1 or true/false", None)
    if column.missing:
        row = int(np.flatnonzero(column.array.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        return (f"row {row}: the label is missing; every row needs 0 or 1", row)
    if column.kind == "number":
        values = column.array.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((values != 0) & (values != 1))
        if len(bad):
            row = int(bad[0]) + 1
            return (f"row {row}: {_show(column.array[int(bad[0])].as_py())} is not 0 or 1", row)
    return None


def _choose_label(columns, label_column: str | None, problems: _Problems) -> str | None:
    if label_column:
        name = _find(columns, label_column)
        if name is None:
            _no_such_column("label_column", label_column, columns, problems)
            return None
        problem = _label_problem(columns[name])
        if problem:
            problems.option("label_column", f"column `{name}` {problem[0]}")
            return None
        return name
    for name, column in columns.items():
        if name.casefold() in LABEL_NAMES and _label_problem(column) is None:
            return name
    return None


def _epoch(column: _Column) -> pa.Array:
    values = column.array.cast(pa.float64()).to_numpy(zero_copy_only=False)
    top = np.nanmax(np.abs(values)) if len(values) else 0
    scale = 1_000_000 if top < 1e11 else 1_000 if top < 1e14 else 1  # s, ms or µs -> µs
    micros = np.round(values * scale)
    return pa.array(micros.astype("int64"), type=pa.timestamp("us", tz="UTC"))


def _choose_timestamp(columns, timestamp_column: str | None, problems) -> str | None:
    if timestamp_column:
        name = _find(columns, timestamp_column)
        if name is None:
            _no_such_column("timestamp_column", timestamp_column, columns, problems)
            return None
        candidates = [name]
    else:
        candidates = [n for n in columns if n.casefold() in TIMESTAMP_NAMES]
    for name in candidates:
        column = columns[name]
        if column.kind == "datetime":
            if _timestamp_missing(column, problems):
                return None
            return name
        if column.dates is not None:  # mostly dates: name the cells that are not
            for row, value in column.bad_dates[:MAX_CELL_ERRORS]:
                problems.cell(name, row, f"{_show(value)} is not a date/time")
            if len(column.bad_dates) > MAX_CELL_ERRORS:
                problems.more_cells(name, len(column.bad_dates) - MAX_CELL_ERRORS)
            return None
        if column.kind == "number" and (
            timestamp_column or (not column.missing and _non_decreasing(column.array))
        ):
            # Unix time (seconds, milliseconds or microseconds); named but unsorted numbers
            # (a "time" in milliseconds, say) stay a feature.
            if _timestamp_missing(column, problems):
                return None
            columns[name] = _Column(name, "datetime", _epoch(column))
            return name
        if timestamp_column:
            sample = column.array.drop_null()
            shown = f": {_show(sample[0].as_py())} is not a date/time" if len(sample) else ""
            problems.option(
                "timestamp_column",
                f"column `{name}` holds {column.kind}, not dates or times{shown}",
            )
    return None


def _timestamp_missing(column: _Column, problems: _Problems) -> bool:
    if not column.missing:
        return False
    row = int(np.flatnonzero(column.array.is_null().to_numpy(zero_copy_only=False))[0]) + 1
    problems.cell(column.name, row, "the timestamp is missing; every row needs one")
    return True


def _non_decreasing(array: pa.Array) -> bool:
    values = array.to_numpy(zero_copy_only=False)
    return len(values) > 0 and bool(np.all(np.diff(values) >= 0))


# --- The entry point -------------------------------------------------------------------------


def read_table(
    path: str | Path,
    *,
    filename: str = "",
    content_type: str = "",
    source_format: str | None = None,
    label_column: str | None = None,
    timestamp_column: str | None = None,
) -> ParsedTable:
    """Read, type and check a table file; raise TableError naming every problem found."""
    source_format = source_format or guess_format(path, filename, content_type)
    if source_format not in FORMATS:
        raise fail(f"the format {source_format!r} is not supported: use CSV, JSON or Parquet")
    if source_format == "csv":
        raw = _read_csv(path, filename)
    elif source_format == "json":
        raw = _read_json(path, filename)
    else:
        raw = _read_parquet(path)
    if not raw:
        raise fail("the file has no columns")
    row_count = len(next(iter(raw.values())))
    if row_count == 0:
        raise fail("the file has a header but no data rows")

    problems = _Problems()
    columns = {name: _type_column(name, values, problems) for name, values in raw.items()}
    label = _choose_label(columns, label_column, problems)
    timestamp = _choose_timestamp(columns, timestamp_column, problems)
    if label and label == timestamp:
        problems.option("timestamp_column", "the label and timestamp columns must differ")
    features = [
        name for name, c in columns.items() if c.kind == "number" and name not in (label, timestamp)
    ]
    if not problems and not features:
        kinds = ", ".join(f"`{n}` ({c.kind})" for n, c in list(columns.items())[:8])
        problems.file(
            "the file has no numeric feature column; a detector needs at least one "
            f"(columns: {kinds})"
        )
    problems.raise_if_any()

    table = pa.table({name: c.array for name, c in columns.items()})
    schema = [{"name": n, "kind": c.kind, "missing": c.missing} for n, c in columns.items()]
    return ParsedTable(
        table=table,
        columns=schema,
        label_column=label,
        timestamp_column=timestamp,
        row_count=row_count,
        source_format=source_format,
    )


# --- The statistical profile -----------------------------------------------------------------

QUANTILES = (1, 5, 25, 50, 75, 95, 99)
HISTOGRAM_BINS = 30


def _finite(value) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def column_values(table: pa.Table, name: str) -> np.ndarray:
    """A number or boolean column as float64, NaN where missing."""
    array = _combine(table[name])
    return array.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _feature_profile(values: np.ndarray, bins: int) -> dict:
    present = values[~np.isnan(values)]
    count = int(present.size)
    out: dict = {"count": count, "missing": int(values.size - count)}
    if count == 0:
        nothing = dict.fromkeys(("mean", "std", "min", "max"))
        return out | nothing | {"quantiles": dict.fromkeys(_q_keys()), "histogram": None}
    quantiles = np.quantile(present, [q / 100 for q in QUANTILES])
    counts, edges = np.histogram(present, bins=bins)
    return out | {
        "mean": _finite(present.mean()),
        "std": _finite(present.std(ddof=1)) if count > 1 else None,
        "min": _finite(present.min()),
        "max": _finite(present.max()),
        "quantiles": {k: _finite(v) for k, v in zip(_q_keys(), quantiles, strict=True)},
        "histogram": {"edges": [_finite(e) for e in edges], "counts": counts.tolist()},
    }


def _q_keys() -> list[str]:
    return [f"p{q}" for q in QUANTILES]


def profile_table(
    table: pa.Table,
    *,
    features: list[str],
    label_column: str | None = None,
    timestamp_column: str | None = None,
    bins: int = HISTOGRAM_BINS,
) -> dict:
    """Per feature: count, missing, mean, sample std (n-1), min, quantiles (p1 ... p99, linear
    interpolation), max and a histogram (`bins` equal-width bins: edges and counts); the Pearson
    correlations of the features (pairwise complete rows); the label balance; the time range.
    Plain JSON: every NaN or infinity is None."""
    values = {name: column_values(table, name) for name in features}
    profile: dict = {
        "row_count": table.num_rows,
        "features": {name: _feature_profile(v, bins) for name, v in values.items()},
    }
    matrix = pd.DataFrame(values).corr(method="pearson", min_periods=2).to_numpy()
    profile["correlations"] = {
        "columns": list(features),
        "matrix": [[_finite(v) for v in row] for row in matrix],
    }
    others = {}
    for name in table.column_names:
        if name in values or name in (label_column, timestamp_column):
            continue
        array = _combine(table[name])
        others[name] = {
            "count": len(array) - array.null_count,
            "missing": array.null_count,
            "distinct": pc.count_distinct(array).as_py(),
        }
    profile["other_columns"] = others
    if label_column:
        labels = column_values(table, label_column)
        anomalies = int(np.nansum(labels == 1))
        normal = int(np.nansum(labels == 0))
        total = anomalies + normal
        profile["label"] = {
            "column": label_column,
            "counts": {"0": normal, "1": anomalies},
            "anomaly_share": anomalies / total if total else None,
        }
    else:
        profile["label"] = None
    if timestamp_column:
        times = _combine(table[timestamp_column])
        bounds = pc.min_max(times).as_py()
        ints = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
        profile["timestamp"] = {
            "column": timestamp_column,
            "min": bounds["min"].isoformat() if bounds["min"] else None,
            "max": bounds["max"].isoformat() if bounds["max"] else None,
            "sorted": bool(np.all(np.diff(ints) >= 0)),
        }
    else:
        profile["timestamp"] = None
    return profile

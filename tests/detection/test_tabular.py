"""Reading tables: kinds, label and timestamp columns, and errors that say where the problem is.

Pure: a file on disk in, a ParsedTable or a TableError out; no database.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detection.tabular import TableError, guess_format, profile_table, read_table


@pytest.fixture
def write(tmp_path):
    def write(name: str, content: bytes | str) -> str:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    return write


def read(path: str, **options):
    return read_table(path, filename=path.rsplit("/", 1)[-1], **options)


def errors_of(path: str, **options) -> TableError:
    with pytest.raises(TableError) as caught:
        read(path, **options)
    return caught.value


def test_it_types_the_columns_of_a_plain_csv(write):
    path = write(
        "plant.csv",
        "timestamp,temp,ok,site,label\n"
        "2026-01-01 00:00:00,20.5,true,north,0\n"
        "2026-01-01 00:01:00,,false,south,1\n"
        "2026-01-01 00:02:00,21,true,,0\n",
    )
    parsed = read(path)
    assert parsed.columns == [
        {"name": "timestamp", "kind": "datetime", "missing": 0},
        {"name": "temp", "kind": "number", "missing": 1},
        {"name": "ok", "kind": "boolean", "missing": 0},
        {"name": "site", "kind": "text", "missing": 1},
        {"name": "label", "kind": "number", "missing": 0},
    ]
    assert (parsed.label_column, parsed.timestamp_column) == ("label", "timestamp")
    assert parsed.feature_columns == ["temp"]
    assert parsed.row_count == 3
    assert parsed.table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert parsed.source_format == "csv"


def test_it_names_the_row_and_value_of_a_bad_number(write):
    rows = [f"{20 + i / 10},{i % 2}" for i in range(30)]
    rows[16] = "abc,0"  # the 17th data row
    error = errors_of(write("temps.csv", "temp,label\n" + "\n".join(rows) + "\n"))
    assert error.errors == ["column `temp` row 17: 'abc' is not a number"]
    assert error.fields == {"temp": ["row 17: 'abc' is not a number"]}


def test_it_lists_ten_problems_and_counts_the_rest(write):
    rows = [str(i) if i % 4 else f"x{i}" for i in range(200)]  # 50 bad cells of 200
    error = errors_of(write("many.csv", "temp\n" + "\n".join(rows) + "\n"))
    assert error.errors[0] == "column `temp` row 1: 'x0' is not a number"
    assert error.errors[-1] == "and 40 more"  # ten cells listed, forty counted
    assert len(error.errors) == 11
    assert error.fields["temp"][-1] == "and 40 more rows like these"


def test_it_hints_at_decimal_commas(write):
    error = errors_of(write("eu.csv", "temp;load\n1,5;2\n2;3\n4;5\n"))
    assert error.errors == [
        "column `temp` row 1: '1,5' is not a number (use a point as the decimal separator)"
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "ragged.csv",
            "a,b,c\n1,2,3\n4,5\n6,7,8,9\n",
            "row 2 (line 3) has 2 fields, the header has 3",
        ),
        (
            "latin.csv",
            b"city,temp\nM\xfcnchen,1\n",
            "the file is not UTF-8 text: byte 0xfc on line 2",
        ),
        ("binary.csv", b"a,b\n\x00\x01\x02", "the file is not UTF-8 text: it holds binary data"),
        ("utf16.csv", "a,b\n1,2\n".encode("utf-16"), "it is UTF-16"),
        ("book.csv", b"PK\x03\x04rest", "ZIP archive"),
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", "\n \n", "the file is empty"),
        ("header.csv", "a,b\n", "the file has a header but no data rows"),
        ("noheader.csv", "1.5,2,3\n4,5,6\n", "the file has no header: its first row (1.5, 2, 3)"),
        ("twice.csv", "a,b,a\n1,2,3\n", "the column name `a` appears twice in the header"),
        ("unnamed.csv", "a,,b\n1,2,3\n", "column 2 has no name in the header"),
        ("text.csv", "who,where\nann,oslo\n", "the file has no numeric feature column"),
        ("inf.csv", "a\n1\ninf\n", "column `a` row 2: 'inf' is not a finite number"),
        ("scalar.json", "42", "the JSON is neither records nor columns (it holds a single number)"),
        (
            "strings.json",
            '["a", "b"]',
            "the JSON is neither records nor columns (a list of strings)",
        ),
        ("mixed.json", '[{"a": 1}, 2]', "row 2 is a number, not an object like row 1"),
        ("scalars.json", '{"a": 1, "b": [1]}', "`a` is a number, not a list"),
        ("uneven.json", '{"a": [1, 2], "b": [1]}', "different lengths (`a` has 2, `b` has 1)"),
        ("broken.json", '[{"a": 1},', "the file is not valid JSON: Expecting value at line 1"),
        ("nested.json", '[{"a": 1, "b": {"c": 2}}]', "column `b` row 1: a nested object"),
        ("none.json", "[]", "the file holds no records"),
        ("bad.parquet", b"PAR1 and then nothing useful", "the file is not a readable Parquet file"),
        ("gz.csv", b"\x1f\x8b\x08\x00", "gzip-compressed"),
    ],
)
def test_it_says_what_is_wrong_with_a_bad_file(write, name, content, message):
    error = errors_of(write(name, content))
    assert message in error.message
    assert error.fields.get("file") or any(error.fields.values())


def test_it_reads_json_records_and_columns_alike(write):
    records = [{"temp": 20.5, "label": 0}, {"temp": None, "label": 1}, {"label": 0, "temp": 22}]
    columns = {"temp": [20.5, None, 22], "label": [0, 1, 0]}
    pandas_columns = {"temp": {"0": 20.5, "1": None, "2": 22}, "label": {"0": 0, "1": 1, "2": 0}}
    lines = "\n".join(json.dumps(r) for r in records)
    for name, content in [
        ("records.json", json.dumps(records)),
        ("columns.json", json.dumps(columns)),
        ("pandas.json", json.dumps(pandas_columns)),
        ("lines.jsonl", lines),
        ("lines.json", lines),
    ]:
        parsed = read(write(name, content))
        assert parsed.source_format == "json"
        assert parsed.columns == [
            {"name": "temp", "kind": "number", "missing": 1},
            {"name": "label", "kind": "number", "missing": 0},
        ], name
        assert parsed.label_column == "label"
        assert parsed.table["temp"].to_pylist() == [20.5, None, 22.0]


def test_it_names_the_record_of_a_bad_json_value(write):
    records = [{"temp": t} for t in [1, 2, 3, "hot", 5]]
    error = errors_of(write("r.json", json.dumps(records)))
    assert error.errors == ["column `temp` row 4: 'hot' is not a number"]


def test_it_reads_parquet_with_its_types(write, tmp_path):
    table = pa.table(
        {
            "when": pa.array([1_700_000_000, 1_700_000_060, 1_700_000_120], pa.timestamp("s")),
            "load": pa.array([0.5, None, 0.7], pa.float32()),
            "count": pa.array([1, 2, 3], pa.int16()),
            "site": pa.array(["a", "b", "a"]).dictionary_encode(),
            "anomaly": pa.array([False, True, False]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    parsed = read(str(tmp_path / "t.parquet"), label_column="anomaly")
    assert [(c["name"], c["kind"], c["missing"]) for c in parsed.columns] == [
        ("when", "datetime", 0),
        ("load", "number", 1),
        ("count", "number", 0),
        ("site", "text", 0),
        ("anomaly", "boolean", 0),
    ]
    assert parsed.timestamp_column is None  # "when" is not one of the names looked for
    assert parsed.label_column == "anomaly"
    assert parsed.feature_columns == ["load", "count"]
    assert parsed.source_format == "parquet"


def test_it_finds_the_format_by_content_when_the_name_does_not_say(write, tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    renamed = write("upload.bin", (tmp_path / "x.parquet").read_bytes())
    assert guess_format(renamed, "upload.bin") == "parquet"
    assert guess_format(write("a", '[{"a": 1}]'), "a") == "json"
    assert guess_format(write("b", "a,b\n1,2\n"), "b", "application/json") == "json"
    assert guess_format(write("c", "a,b\n1,2\n"), "c") == "csv"


def test_it_takes_a_given_label_or_says_why_not(write):
    path = write("d.csv", "a,y,name\n1,0,x\n2,1,y\n3,2,z\n")
    assert read(path).label_column is None  # `y` is not called label
    error = errors_of(path, label_column="y")
    assert error.fields == {"label_column": ["column `y` row 3: '2' is not 0 or 1"]}
    error = errors_of(path, label_column="nope")
    assert error.errors == ["there is no column `nope` in the file (columns: `a`, `y`, `name`)"]
    error = errors_of(path, label_column="name")
    assert "column `name` holds text, but a label must be 0/1 or true/false" in error.message


def test_it_leaves_a_label_named_column_that_is_not_0_1_alone(write):
    parsed = read(write("d.csv", "a,Label\n1,0\n2,5\n"))
    assert parsed.label_column is None
    assert parsed.feature_columns == ["a", "Label"]


def test_it_detects_and_checks_timestamps(write):
    iso = "time,v\n2026-01-01T00:00:00Z,1\n2026-01-01T01:00:00+01:00,2\n2026-01-02,3\n"
    parsed = read(write("iso.csv", iso))
    assert parsed.timestamp_column == "time"
    assert [t.isoformat() for t in parsed.table["time"].to_pylist()] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
    ]
    bad = "timestamp,v\n2026-01-01 00:00,1\n2026-01-01 00:01,2\nyesterday,3\n2026-01-01 00:03,4\n"
    error = errors_of(write("bad.csv", bad))
    assert error.errors == ["column `timestamp` row 3: 'yesterday' is not a date/time"]

    epoch = read(write("epoch.csv", "timestamp,v\n1767225600,1\n1767225660,2\n"))
    assert epoch.timestamp_column == "timestamp"
    assert epoch.table["timestamp"][1].as_py().isoformat() == "2026-01-01T00:01:00+00:00"
    assert epoch.feature_columns == ["v"]

    # Unsorted numbers called "time" (a response time, say) stay a feature.
    durations = read(write("durations.csv", "time,v\n30,1\n12,2\n"))
    assert durations.timestamp_column is None
    assert durations.feature_columns == ["time", "v"]

    given = errors_of(write("g.csv", "at,v\nsoon,1\nlater,2\n"), timestamp_column="at")
    assert given.fields == {
        "timestamp_column": [
            "column `at` holds text, not dates or times: 'soon' is not a date/time"
        ]
    }
    missing = errors_of(write("m.csv", "time,v\n2026-01-01,1\n,2\n"))
    assert missing.errors == ["column `time` row 2: the timestamp is missing; every row needs one"]


def test_it_counts_missing_values_in_every_spelling(write):
    parsed = read(write("m.csv", "a,b\n1,x\nNA,\n,null\nnan,y\n5,z\n"))
    assert parsed.columns == [
        {"name": "a", "kind": "number", "missing": 3},
        {"name": "b", "kind": "text", "missing": 2},
    ]


def test_it_drops_the_empty_column_a_trailing_comma_leaves(write):
    parsed = read(write("t.csv", "a,b,\n1,2,\n3,4,\n"))
    assert [c["name"] for c in parsed.columns] == ["a", "b"]


def test_it_profiles_a_known_table():
    x = np.arange(1, 11, dtype=float)
    table = pa.table(
        {
            "x": x,
            "y": 2 * x + 1,
            "flat": np.full(10, 3.0),
            "gappy": pa.array([1.0, None, 3.0, None, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
            "label": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
        }
    )
    profile = profile_table(table, features=["x", "y", "flat", "gappy"], label_column="label")
    stats = profile["features"]["x"]
    assert stats["count"] == 10 and stats["missing"] == 0
    assert stats["mean"] == pytest.approx(5.5)
    assert stats["std"] == pytest.approx(np.sqrt(110 / 12))  # sample std of 1..10
    assert (stats["min"], stats["max"]) == (1.0, 10.0)
    assert stats["quantiles"]["p50"] == pytest.approx(5.5)
    assert stats["quantiles"]["p25"] == pytest.approx(3.25)
    assert stats["quantiles"]["p99"] == pytest.approx(9.91)
    assert len(stats["histogram"]["edges"]) == 31
    assert sum(stats["histogram"]["counts"]) == 10
    assert profile["features"]["gappy"]["missing"] == 2
    assert sum(profile["features"]["gappy"]["histogram"]["counts"]) == 8
    assert profile["features"]["flat"]["std"] == 0.0

    corr = profile["correlations"]
    assert corr["columns"] == ["x", "y", "flat", "gappy"]
    assert corr["matrix"][0][1] == pytest.approx(1.0)
    assert corr["matrix"][0][2] is None  # a constant column has no correlation: null, not NaN
    assert profile["label"] == {
        "column": "label",
        "counts": {"0": 8, "1": 2},
        "anomaly_share": 0.2,
    }
    json.dumps(profile, allow_nan=False)  # strict JSON


def test_it_counts_a_quoted_value_across_lines_as_one_row(write):
    error = errors_of(write("notes.csv", 'note,temp\n"two\nlines",1\nok,x\nok,3\nok,4\n'))
    assert error.errors == ["column `temp` row 2: 'x' is not a number"]

"""How Sink.upsert reads record dicts (cpp/bindings/records.cpp), through _core._testing.read_records.

Large calls are read by helper threads as well as the calling thread, and anything the fast reader
cannot take whole goes to the general reader afterwards; both must give the bytes
backfill._canonical.dumps gives, in record order, and raise for the first bad record.
"""

from __future__ import annotations

import array
import collections
import math
import random
import struct
import sys
from typing import Any

import pytest

from backfill._core import _testing
from backfill._canonical import dumps


def f32(values: Any) -> list[float]:
    return list(array.array("f", values))


def read(records: list[dict[str, Any]]) -> list[tuple[str, list[float], str]]:
    return _testing.read_records(records)


def random_doubles(rng: random.Random, n: int) -> list[float]:
    out = []
    while len(out) < n:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            out.append(x)
    return out


SPECIAL_DOUBLES = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 2 / 3, 1e16, 1e15, 9999999999999998.0, 1234567890123456.0,
                   12345678901234567.0, 1e-4, 1e-5, 0.0001, 0.00012345, 0.000012345, 1e21, 1e22, 1e23, 5e-324,
                   2.2250738585072014e-308, 1.7976931348623157e308, 123.456, 100.0, 1e100, 1.5e-7, 2.0**53,
                   2.0**53 + 2, 0.30000000000000004, 4.35, 1e-310]


def test_floats_in_metadata_are_written_as_repr_writes_them() -> None:
    rng = random.Random(7)
    doubles = SPECIAL_DOUBLES + [-x for x in SPECIAL_DOUBLES] + random_doubles(rng, 20000)
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(5000)] + [rng.random() * 10 ** rng.randint(-30, 30)
                                                                for _ in range(5000)]
    # 300 records of 100 floats each: enough for the helper threads to take part.
    records = [{"id": f"r{i}", "values": [1.0], "metadata": {"x": doubles[i * 100:(i + 1) * 100]}}
               for i in range(len(doubles) // 100)]
    got = read(records)
    for r, (_, _, meta) in zip(records, got):
        assert meta == dumps(r["metadata"])


STRINGS = ["", "plain ascii", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r", "bell\x07 nul\x00 esc\x1b",
           "del\x7f", "latin-1: café naïve ÿ", "greek αβγ", "CJK 東京 漢字", "emoji 🚀👍🏽", "line sep \u2028 \u2029",
           "bom \ufeff", "max \U0010ffff", "a" * 1000, "é" * 1000 + "\n", "mixed 🚀" * 100 + '"']


@pytest.mark.parametrize("count", [1, 300])
def test_strings_and_keys_are_canonical_json(count: int) -> None:
    metadata = {s: s for s in STRINGS}
    metadata.update({"z": "last", "Z": "upper", "é": "accent", "𝔸": "astral key", "a\u0301": "combining"})
    records = [{"id": f"id-{i}-{STRINGS[i % len(STRINGS)][:20]}", "values": [1.0, 2.0],
                "metadata": metadata} for i in range(count)]
    for r, (rid, _, meta) in zip(records, read(records)):
        assert rid == r["id"]
        assert meta == dumps(r["metadata"])


def test_every_json_type_and_what_falls_back_to_dumps() -> None:
    class Custom(str):
        pass

    metadata: list[Any] = [
        {"n": None, "t": True, "f": False, "i": 0, "neg": -17, "big": 2**63 - 1, "small": -(2**63)},
        {"huge": 2**63, "huger": -(2**64) * 3},                 # past int64: dumps writes them
        {"nested": {"b": [1, 2.5, {"c": None}], "a": ()}, "tuple": ("x", 1)},
        {1: "int key", 3: "another"},                          # non-str keys: dumps
        {"sub": Custom("a str subclass")},                      # dumps
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},  # deeper than 32
        {"true_is_not_1": [True, 1, False, 0]},
        {},
    ]
    records = [{"id": f"r{i}", "values": [0.5], "metadata": m} for i, m in enumerate(metadata * 40)]
    records.append({"id": "no-metadata", "values": [0.5]})
    got = read(records)
    for r, (_, _, meta) in zip(records, got):
        assert meta == (dumps(r["metadata"]) if "metadata" in r else "{}")


def test_values_of_every_accepted_kind_become_float32() -> None:
    import numpy as np  # a test dependency (pyproject.toml): missing, this test fails rather than skips

    class Number:
        def __float__(self) -> float:
            return 0.25

    rng = random.Random(3)
    base = [rng.uniform(-1, 1) for _ in range(16)]
    kinds: list[Any] = [
        base, tuple(base), [int(x * 100) for x in base], base[:8] + [np.float32(0.5)] * 8, base[:15] + [Number()],
        array.array("f", base), array.array("d", base), np.array(base, dtype=np.float32),
        np.array(base, dtype=np.float64), (x for x in base), [True, False] * 8,
    ]
    expected = [f32(list(v)) for v in kinds]
    # a generator is spent once read: each record gets its own
    records = [{"id": f"k{i}", "values": (x for x in base) if i % len(kinds) == 9 else kinds[i % len(kinds)]}
               for i in range(len(kinds) * 10)]
    got = read(records)
    for i, (rid, values, _) in enumerate(got):
        assert rid == f"k{i}"
        assert values == expected[i % len(kinds)]


def test_records_read_in_parallel_keep_their_order_and_values() -> None:
    rng = random.Random(11)
    records = [{"id": f"doc-{i:05d}#{i % 3}", "values": [rng.uniform(-1, 1) for _ in range(64)],
                "metadata": {"i": i, "text": "t" * rng.randrange(0, 300), "w": rng.random()}} for i in range(3000)]
    got = read(records)
    assert [g[0] for g in got] == [r["id"] for r in records]
    assert all(g[1] == f32(r["values"]) for g, r in zip(got, records))
    assert all(g[2] == dumps(r["metadata"]) for g, r in zip(got, records))


def test_the_first_bad_record_is_the_one_named() -> None:
    good = [{"id": f"ok{i}", "values": [1.0, 2.0]} for i in range(500)]
    records = list(good)
    records[150] = {"id": "bad-values", "values": [1.0, "two"]}
    records[400] = {"values": [1.0]}  # no id: later, so not the one raised
    with pytest.raises(TypeError, match="record bad-values: values must be numbers"):
        read(records)
    records[150] = {"id": "no-values"}
    with pytest.raises(TypeError, match="record no-values has no 'values'"):
        read(records)
    records[150] = good[150]
    with pytest.raises(TypeError, match="needs an 'id' that is a str"):
        read(records)
    records[400] = ["not", "a", "dict"]  # type: ignore[assignment]
    with pytest.raises(TypeError, match="must be a dict"):
        read(records)


def test_metadata_dumps_refuses_is_raised() -> None:
    records = [{"id": f"r{i}", "values": [1.0], "metadata": {"x": 1.0}} for i in range(100)]
    records[70]["metadata"] = {"x": float("nan")}
    with pytest.raises(ValueError, match="not JSON compliant"):
        read(records)
    records[70]["metadata"] = {"x": object()}
    with pytest.raises(TypeError, match="not JSON serializable"):
        read(records)


def test_subclasses_and_lone_surrogates_take_the_general_reader() -> None:
    class Id(str):
        pass

    records: list[Any] = [collections.OrderedDict(id="ordered", values=[1.0], metadata={"a": 1})]
    records += [{"id": Id("subclass-id"), "values": [2.0]}]
    records += [{"id": f"plain{i}", "values": [3.0], "metadata": {"b": [i]}} for i in range(100)]
    got = read(records)
    assert got[0] == ("ordered", [1.0], '{"a":1}')
    assert got[1] == ("subclass-id", [2.0], "{}")
    assert got[50] == ("plain48", [3.0], '{"b":[48]}')
    with pytest.raises(ValueError, match=r"record id 'lone \\udc80' is not valid Unicode"):
        read([{"id": "ok", "values": [1.0]}] * 100 + [{"id": "lone \udc80", "values": [1.0]}])


def test_python_code_run_while_reading_cannot_pull_records_away() -> None:
    """A __float__ runs Python code in the middle of a call: here it empties the list being read.
    The reader must notice, not read freed memory."""
    records: list[dict[str, Any]] = []

    class Clearing:
        def __float__(self) -> float:
            records.clear()
            return 1.0

    records += [{"id": f"r{i}", "values": [1.0] * 8} for i in range(200)]
    records[10] = {"id": "clears", "values": [Clearing()]}
    records[150] = {"id": "after", "values": [Clearing()]}
    with pytest.raises(ValueError, match="changed while it was being read"):
        read(records)
    assert sys.getrefcount(records) >= 2


def test_text_of_every_width_with_ascii_runs_of_every_length() -> None:
    """Strings are encoded to UTF-8 eight ASCII code units at a time, one by one elsewhere: runs of
    ASCII of every length around characters of 2, 3 and 4 UTF-8 bytes, in strings stored 1, 2 and
    4 bytes a character, and a lone surrogate anywhere, must all come out as dumps writes them."""
    rng = random.Random(5)
    wide = ["é", "ÿ", "Ж", "東", "\u2028", "🚀", "\U0010ffff", "\n", '"']
    texts = []
    for _ in range(600):
        parts = []
        for _ in range(rng.randrange(1, 12)):
            parts.append("x" * rng.randrange(0, 20))
            parts.append(rng.choice(wide[:2] if rng.random() < 0.3 else wide))
        texts.append("".join(parts))
    records = [{"id": f"t{i}", "values": [1.0], "metadata": {"text": t, t[:10]: i}} for i, t in enumerate(texts)]
    for r, (_, _, meta) in zip(records, read(records)):
        assert meta == dumps(r["metadata"])
    for at in (0, 7, 8, 9, 30):
        bad = "y" * at + "\ud800" + "z" * 5
        with pytest.raises(ValueError, match="record s: metadata holds text that is not valid Unicode"):
            read([{"id": "ok", "values": [1.0], "metadata": {"t": "fine"}}] * 80
                 + [{"id": "s", "values": [1.0], "metadata": {"t": bad}}])

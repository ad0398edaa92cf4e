"""The wire format: round trips and hostile bytes (property-based)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refine_protocol import MAGIC, Blob, FrameError, decode_frame, encode_frame, read_frame
from refine_protocol.wire import PREFIX

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(lambda n: n not in ("type", "blobs"))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(names, st.one_of(st.integers(-(2**31), 2**31), st.text(max_size=20), st.booleans(), st.none()), max_size=5),
    st.lists(st.tuples(st.sampled_from(["f32", "i32", "u8"]), st.lists(st.integers(0, 5), min_size=1, max_size=3)), max_size=4),
)
def test_round_trip(fields, specs):
    rng = np.random.default_rng(0)
    blobs = [Blob.from_array(f"b{i}", rng.integers(0, 100, shape), dtype) for i, (dtype, shape) in enumerate(specs)]
    data = encode_frame({"type": "x", **fields}, blobs)
    frame = decode_frame(data)
    assert frame.header == {"type": "x", **fields}
    for b in blobs:
        np.testing.assert_array_equal(frame.blobs[b.name].to_array(), b.to_array())
    assert read_frame(io.BytesIO(data)).header == frame.header


def test_layout_is_little_endian_and_documented():
    data = encode_frame({"type": "ping"}, [Blob.from_array("v", np.array([1.0], np.float32), "f32")])
    magic, h, p = struct.unpack("<4sIQ", data[:16])
    assert magic == MAGIC and p == 4 and data[16 : 16 + h] == b'{"type":"ping","blobs":[{"name":"v","dtype":"f32","shape":[1]}]}'
    assert data[16 + h :] == b"\x00\x00\x80\x3f"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes_the_decoder(data):
    try:
        decode_frame(data)
    except FrameError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1))
def test_garbage_after_a_valid_prefix(body, h, p):
    data = PREFIX.pack(MAGIC, h, p) + body
    with pytest.raises(FrameError):
        decode_frame(data, max_frame=10_000)
    with pytest.raises(FrameError):
        read_frame(io.BytesIO(data), max_frame=10_000)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200))
def test_truncated_frames_are_reported(cut):
    data = encode_frame({"type": "x"}, [Blob.from_array("v", np.arange(6, dtype=np.float32), "f32")])
    with pytest.raises(FrameError) as err:
        read_frame(io.BytesIO(data[: min(cut, len(data) - 1)]))
    assert err.value.code == "truncated"


@pytest.mark.parametrize(
    "header, message",
    [
        (b"[1, 2]", "JSON object"),
        (b'{"type": 3}', "string 'type'"),
        (b'{"type": "x", "v": NaN}', "not valid JSON"),
        (b'{"type": "x", "blobs": [{"name": "v", "dtype": "f64", "shape": [1]}]}', "dtype"),
        (b'{"type": "x", "blobs": [{"name": "v", "dtype": "f32", "shape": [-1]}]}', "shape"),
        (b'{"type": "x", "blobs": [{"name": "../v", "dtype": "u8", "shape": [0]}]}', "blob name"),
        (b'{"type": "x", "blobs": [{"name": "v", "dtype": "f32", "shape": [9]}]}', "past the end"),
    ],
)
def test_bad_headers_are_named(header, message):
    with pytest.raises(FrameError, match=message):
        decode_frame(PREFIX.pack(MAGIC, len(header), 0) + header)


def test_oversized_frame_is_refused_before_reading_it():
    data = PREFIX.pack(MAGIC, 10, 10**12)
    with pytest.raises(FrameError) as err:
        read_frame(io.BytesIO(data))
    assert err.value.code == "too_large"


def test_bodies_claim_their_memory_from_the_budget_and_give_it_back_on_failure():
    from engine.server.budget import ByteBudget

    blob = Blob.from_array("v", np.zeros(3 << 18, np.float32), "f32")  # 3 MiB: several chunks
    data = encode_frame({"type": "echo"}, [blob])
    budget = ByteBudget(8 << 20, wait=0.1)
    frame = read_frame(io.BytesIO(data), budget=budget)
    assert frame.nbytes == len(data) - 16 and budget.used == frame.nbytes  # the caller gives it back
    budget.give(frame.nbytes)
    with pytest.raises(FrameError, match="closed after"):
        read_frame(io.BytesIO(data[: len(data) // 2]), budget=budget)
    assert budget.used == 0
    with pytest.raises(FrameError) as err:  # too much at once: refused after a short wait
        read_frame(io.BytesIO(data), budget=ByteBudget(1 << 20, wait=0.1))
    assert err.value.code == "busy"


@pytest.mark.parametrize("number", [b"1e999", b"-1e400", b"9" * 400, b"-" + b"9" * 20])
def test_numbers_a_float64_or_int64_cannot_hold_are_a_bad_request_not_a_lost_stream(number):
    raw = b'{"type":"status","x":' + number + b"}"
    with pytest.raises(FrameError) as err:
        decode_frame(PREFIX.pack(MAGIC, len(raw), 0) + raw)
    assert err.value.code == "bad_request" and not err.value.fatal

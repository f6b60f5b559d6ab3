"""crypto.wrapping: key wrapping under a key or an Argon2id-stretched passphrase."""
from __future__ import annotations

import base64
import copy
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.wrapping import (Argon2Params, UnwrapError, b64d, b64e, derive_passphrase_key,
                             unwrap_with_key, unwrap_with_passphrase, wrap_with_key,
                             wrap_with_passphrase)
from tests.crypto.strategies import (B64_TEXT, CHEAP_PARAM_FIELD, CHEAP_VALID_PARAMS, JSON_VALUES,
                                     MAYBE_B64, params_dict)

CHEAP = Argon2Params(iterations=1, lanes=1, memory_cost=64)
LABEL = b"test label v1"
SECRET = bytes(range(32))


def _flip(text: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return b64e(bytes(raw))


# ---------------------------------------------------------------- Argon2Params


def test_default_params_are_rfc9106_second_recommendation() -> None:
    assert Argon2Params() == Argon2Params(iterations=3, lanes=4, memory_cost=64 * 1024)


def test_params_json_round_trip() -> None:
    for params in (Argon2Params(), CHEAP, Argon2Params(20, 16, 2 * 1024 * 1024)):
        assert params.to_json() == {"iterations": params.iterations, "lanes": params.lanes,
                                    "memory_cost": params.memory_cost}
        assert Argon2Params.from_json(json.loads(json.dumps(params.to_json()))) == params


@pytest.mark.parametrize("data", [
    {"iterations": 0, "lanes": 1, "memory_cost": 64},
    {"iterations": 21, "lanes": 1, "memory_cost": 64},
    {"iterations": -1, "lanes": 1, "memory_cost": 64},
    {"iterations": 1, "lanes": 0, "memory_cost": 64},
    {"iterations": 1, "lanes": 17, "memory_cost": 1024},
    {"iterations": 1, "lanes": 2, "memory_cost": 15},  # below 8 * lanes
    {"iterations": 1, "lanes": 1, "memory_cost": 7},
    {"iterations": 1, "lanes": 1, "memory_cost": 2 * 1024 * 1024 + 1},
])
def test_from_json_rejects_out_of_range(data: dict) -> None:
    with pytest.raises(UnwrapError, match="out of range"):
        Argon2Params.from_json(data)


@pytest.mark.parametrize("data", [
    {"iterations": 1, "lanes": 1},
    {},
    {"iterations": None, "lanes": 1, "memory_cost": 64},
    {"iterations": [1], "lanes": 1, "memory_cost": 64},
    {"iterations": {"n": 1}, "lanes": 1, "memory_cost": 64},
    {"iterations": "one", "lanes": 1, "memory_cost": 64},
    {"iterations": "1.5", "lanes": 1, "memory_cost": 64},
    {"iterations": float("nan"), "lanes": 1, "memory_cost": 64},
])
def test_from_json_rejects_wrong_types(data: dict) -> None:
    with pytest.raises(UnwrapError, match="bad Argon2 parameters"):
        Argon2Params.from_json(data)


@pytest.mark.parametrize("data", [None, [], [1, 1, 64], "params", 3, 1.0, True])
def test_from_json_rejects_non_objects(data: object) -> None:
    with pytest.raises(UnwrapError, match="missing"):
        Argon2Params.from_json(data)


def test_from_json_accepts_boundaries() -> None:
    assert Argon2Params.from_json({"iterations": 1, "lanes": 1, "memory_cost": 8}) == Argon2Params(1, 1, 8)
    assert Argon2Params.from_json({"iterations": 20, "lanes": 16, "memory_cost": 128}) == Argon2Params(20, 16, 128)
    assert Argon2Params.from_json({"iterations": "2", "lanes": "1", "memory_cost": "64"}) == Argon2Params(2, 1, 64)


def _check_from_json(data: object) -> None:
    try:
        params = Argon2Params.from_json(data)
    except UnwrapError:
        return
    assert isinstance(params, Argon2Params)
    assert all(type(v) is int for v in (params.iterations, params.lanes, params.memory_cost))
    assert 1 <= params.iterations <= 20 and 1 <= params.lanes <= 16
    assert 8 * params.lanes <= params.memory_cost <= 2 * 1024 * 1024


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES | params_dict())
def test_from_json_any_json_value_gives_params_or_unwrap_error(data: object) -> None:
    _check_from_json(data)


@pytest.mark.parametrize("field", ["iterations", "lanes", "memory_cost"])
@pytest.mark.parametrize("text", ["Infinity", "-Infinity"])
def test_from_json_rejects_infinity_as_unwrap_error(field: str, text: str) -> None:
    # json.loads reads 'Infinity'; int(float('inf')) raises OverflowError, which must become UnwrapError.
    data = json.loads('{"iterations": 1, "lanes": 1, "memory_cost": 64}')
    data[field] = json.loads(text)
    with pytest.raises(UnwrapError, match="bad Argon2 parameters"):
        Argon2Params.from_json(data)


# ---------------------------------------------------------------- b64 helpers


def test_b64_round_trip_and_rejections() -> None:
    for data in (b"", b"\x00", os.urandom(33)):
        assert b64d(b64e(data), what="x") == data
    with pytest.raises(UnwrapError, match="x is not text"):
        b64d(b"AAAA", what="x")
    with pytest.raises(UnwrapError, match="x is not text"):
        b64d(None, what="x")
    for bad in ("A", "AAA", "AA AA", "!!!!", "ÆØÅ=", "\udcff"):
        with pytest.raises(UnwrapError, match="x is not base64"):
            b64d(bad, what="x")


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES | st.binary())
def test_b64d_only_raises_unwrap_error(value: object) -> None:
    try:
        assert isinstance(b64d(value, what="v"), bytes)
    except UnwrapError:
        pass


# ---------------------------------------------------------------- wrap with key


def test_wrap_with_key_round_trip() -> None:
    kek = os.urandom(32)
    for secret in (b"", b"x", SECRET, os.urandom(1000)):
        blob = wrap_with_key(secret, kek, LABEL)
        assert set(blob) == {"nonce", "ciphertext"}
        assert len(base64.b64decode(blob["nonce"])) == 12
        assert len(base64.b64decode(blob["ciphertext"])) == len(secret) + 16
        # JSON-safe: the blob lives in key files and backup headers.
        assert unwrap_with_key(json.loads(json.dumps(blob)), kek, LABEL) == secret


def test_wrap_with_key_uses_a_fresh_nonce() -> None:
    kek = os.urandom(32)
    a, b = wrap_with_key(SECRET, kek, LABEL), wrap_with_key(SECRET, kek, LABEL)
    assert a["nonce"] != b["nonce"] and a["ciphertext"] != b["ciphertext"]
    assert SECRET.hex() not in json.dumps(a)


@pytest.mark.parametrize("kek_len", [16, 24, 32])
def test_wrap_with_key_accepts_aes_key_sizes(kek_len: int) -> None:
    kek = os.urandom(kek_len)
    assert unwrap_with_key(wrap_with_key(SECRET, kek, LABEL), kek, LABEL) == SECRET


def test_unwrap_with_wrong_key_or_label_fails() -> None:
    kek = os.urandom(32)
    blob = wrap_with_key(SECRET, kek, LABEL)
    with pytest.raises(UnwrapError, match="wrong key or passphrase"):
        unwrap_with_key(blob, os.urandom(32), LABEL)
    with pytest.raises(UnwrapError, match="wrong key or passphrase"):
        unwrap_with_key(blob, kek, LABEL + b"x")
    with pytest.raises(UnwrapError):
        unwrap_with_key(blob, kek, b"")


def test_unwrap_detects_every_flipped_ciphertext_byte() -> None:
    kek = os.urandom(32)
    blob = wrap_with_key(SECRET, kek, LABEL)
    length = len(base64.b64decode(blob["ciphertext"]))
    for i in range(length):
        tampered = dict(blob, ciphertext=_flip(blob["ciphertext"], i))
        with pytest.raises(UnwrapError):
            unwrap_with_key(tampered, kek, LABEL)


def test_unwrap_detects_flipped_nonce_bytes() -> None:
    kek = os.urandom(32)
    blob = wrap_with_key(SECRET, kek, LABEL)
    for i in range(12):
        with pytest.raises(UnwrapError):
            unwrap_with_key(dict(blob, nonce=_flip(blob["nonce"], i)), kek, LABEL)


def test_unwrap_rejects_truncated_or_extended_ciphertext() -> None:
    kek = os.urandom(32)
    blob = wrap_with_key(SECRET, kek, LABEL)
    raw = base64.b64decode(blob["ciphertext"])
    for variant in (raw[:-1], raw[1:], raw[:16], raw[:15], b"", raw + b"\x00"):
        with pytest.raises(UnwrapError):
            unwrap_with_key(dict(blob, ciphertext=b64e(variant)), kek, LABEL)


@pytest.mark.parametrize("blob,message", [
    (None, "not an object"),
    ([], "not an object"),
    ("nonce", "not an object"),
    ({}, "nonce is not text"),
    ({"nonce": b64e(b"n" * 12)}, "ciphertext is not text"),
    ({"nonce": 12, "ciphertext": b64e(b"c" * 32)}, "nonce is not text"),
    ({"nonce": "***", "ciphertext": b64e(b"c" * 32)}, "nonce is not base64"),
    ({"nonce": b64e(b"n" * 11), "ciphertext": b64e(b"c" * 32)}, "bad nonce length"),
    ({"nonce": b64e(b"n" * 16), "ciphertext": b64e(b"c" * 32)}, "bad nonce length"),
    ({"nonce": b64e(b""), "ciphertext": b64e(b"c" * 32)}, "bad nonce length"),
])
def test_unwrap_with_key_rejects_malformed_blobs(blob: object, message: str) -> None:
    with pytest.raises(UnwrapError, match=message):
        unwrap_with_key(blob, os.urandom(32), LABEL)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={"nonce": MAYBE_B64, "ciphertext": MAYBE_B64,
                                           "other": JSON_VALUES}) | JSON_VALUES)
def test_unwrap_with_key_on_arbitrary_blobs_only_raises_unwrap_error(blob: object) -> None:
    with pytest.raises(UnwrapError):
        unwrap_with_key(blob, b"k" * 32, LABEL)


# ---------------------------------------------------------------- wrap with passphrase


def test_derive_passphrase_key_is_deterministic_and_salted() -> None:
    salt = b"s" * 16
    key = derive_passphrase_key("korrekt hest", salt, CHEAP)
    assert len(key) == 32
    assert derive_passphrase_key("korrekt hest", salt, CHEAP) == key
    assert derive_passphrase_key("korrekt hest", b"t" * 16, CHEAP) != key
    assert derive_passphrase_key("korrekt hesT", salt, CHEAP) != key
    assert derive_passphrase_key("korrekt hest", salt, Argon2Params(2, 1, 64)) != key
    assert derive_passphrase_key("korrekt hest", salt, Argon2Params(1, 1, 128)) != key


def test_wrap_with_passphrase_round_trip() -> None:
    for passphrase in ("korrekt hest batteri", "hæfteklamme ☕", "", " "):
        blob = wrap_with_passphrase(SECRET, passphrase, LABEL, CHEAP)
        assert blob["kdf"] == "argon2id"
        assert blob["params"] == CHEAP.to_json()
        assert len(base64.b64decode(blob["salt"])) == 16
        assert unwrap_with_passphrase(json.loads(json.dumps(blob)), passphrase, LABEL) == SECRET


def test_wrap_with_passphrase_uses_fresh_salt_and_nonce() -> None:
    a = wrap_with_passphrase(SECRET, "pw", LABEL, CHEAP)
    b = wrap_with_passphrase(SECRET, "pw", LABEL, CHEAP)
    assert a["salt"] != b["salt"] and a["nonce"] != b["nonce"] and a["ciphertext"] != b["ciphertext"]


def test_unwrap_with_wrong_passphrase_or_label_fails() -> None:
    blob = wrap_with_passphrase(SECRET, "korrekt hest", LABEL, CHEAP)
    for wrong in ("korrekt hest ", "Korrekt hest", "", "korrekt hes"):
        with pytest.raises(UnwrapError, match="wrong key or passphrase"):
            unwrap_with_passphrase(blob, wrong, LABEL)
    with pytest.raises(UnwrapError):
        unwrap_with_passphrase(blob, "korrekt hest", b"other label")


def test_unwrap_with_passphrase_detects_tampering() -> None:
    blob = wrap_with_passphrase(SECRET, "pw", LABEL, CHEAP)
    variants = [
        dict(blob, ciphertext=_flip(blob["ciphertext"], 0)),
        dict(blob, ciphertext=_flip(blob["ciphertext"], len(SECRET) + 5)),  # in the tag
        dict(blob, nonce=_flip(blob["nonce"], 11)),
        dict(blob, salt=_flip(blob["salt"], 3)),
        dict(blob, params={"iterations": 2, "lanes": 1, "memory_cost": 64}),
        dict(blob, params={"iterations": 1, "lanes": 1, "memory_cost": 72}),
    ]
    for tampered in variants:
        with pytest.raises(UnwrapError, match="wrong key or passphrase"):
            unwrap_with_passphrase(tampered, "pw", LABEL)


def test_unwrap_with_passphrase_rejects_malformed_blobs() -> None:
    blob = wrap_with_passphrase(SECRET, "pw", LABEL, CHEAP)
    cases = [
        (None, "not an Argon2id"),
        (dict(blob, kdf="scrypt"), "not an Argon2id"),
        ({k: v for k, v in blob.items() if k != "kdf"}, "not an Argon2id"),
        ({k: v for k, v in blob.items() if k != "salt"}, "salt is not text"),
        (dict(blob, salt="?"), "salt is not base64"),
        (dict(blob, salt=b64e(b"s" * 7)), "bad salt length"),
        (dict(blob, salt=b64e(b"s" * 65)), "bad salt length"),
        ({k: v for k, v in blob.items() if k != "params"}, "missing Argon2"),
        (dict(blob, params={"iterations": 0, "lanes": 1, "memory_cost": 64}), "out of range"),
        (dict(blob, params={"iterations": "x", "lanes": 1, "memory_cost": 64}), "bad Argon2"),
        (dict(blob, nonce=b64e(b"n" * 8)), "bad nonce length"),
    ]
    for bad, message in cases:
        with pytest.raises(UnwrapError, match=message):
            unwrap_with_passphrase(bad, "pw", LABEL)


def test_salt_length_bounds_are_inclusive() -> None:
    # A blob re-wrapped by hand with an 8- and a 64-byte salt still opens.
    for size in (8, 64):
        salt = os.urandom(size)
        blob = wrap_with_key(SECRET, derive_passphrase_key("pw", salt, CHEAP), LABEL)
        blob.update({"kdf": "argon2id", "salt": b64e(salt), "params": CHEAP.to_json()})
        assert unwrap_with_passphrase(blob, "pw", LABEL) == SECRET


@settings(max_examples=150, deadline=None)
@given(
    kdf=st.just("argon2id") | JSON_VALUES,
    salt=st.binary(min_size=8, max_size=64).map(b64e) | MAYBE_B64,
    params=CHEAP_VALID_PARAMS | params_dict(CHEAP_PARAM_FIELD) | JSON_VALUES,
    nonce=st.binary(min_size=12, max_size=12).map(b64e) | MAYBE_B64,
    ciphertext=B64_TEXT | JSON_VALUES,
)
def test_unwrap_with_passphrase_on_arbitrary_blobs_only_raises_unwrap_error(
        kdf: object, salt: object, params: object, nonce: object, ciphertext: object) -> None:
    # Large memory costs are filtered out only to keep Argon2 cheap; the value check is covered above.
    blob = {"kdf": kdf, "salt": salt, "params": params, "nonce": nonce, "ciphertext": ciphertext}
    with pytest.raises(UnwrapError):
        unwrap_with_passphrase(copy.deepcopy(blob), "pw", LABEL)


def test_infinite_params_in_a_wrapped_blob_raise_unwrap_error() -> None:
    blob = wrap_with_passphrase(SECRET, "pw", LABEL, CHEAP)
    text = json.dumps(dict(blob, params={"iterations": float("inf"), "lanes": 1, "memory_cost": 64}))
    assert "Infinity" in text
    with pytest.raises(UnwrapError, match="bad Argon2 parameters"):
        unwrap_with_passphrase(json.loads(text), "pw", LABEL)


@pytest.mark.parametrize("passphrase", ["p\udcffw", "\ud800", "pw\udfff"])
def test_passphrase_with_a_lone_surrogate_round_trips(passphrase: str) -> None:
    # getpass yields lone surrogates for input it cannot decode; they still have one stable encoding.
    blob = wrap_with_passphrase(SECRET, passphrase, LABEL, CHEAP)
    assert unwrap_with_passphrase(blob, passphrase, LABEL) == SECRET
    with pytest.raises(UnwrapError, match="wrong"):
        unwrap_with_passphrase(blob, "pw", LABEL)

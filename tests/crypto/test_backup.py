"""crypto.backup: the encrypted, chunked backup container."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import backup
from crypto.backup import (MAGIC, MAX_HEADER, BackupError, BackupHeader, backup_key_for_restore,
                           open_sealed, read_header, seal, unwrap_backup_key)
from crypto.wrapping import Argon2Params, b64e
from tests.crypto.strategies import DEEP_JSON_TEXT, JSON_VALUES

CHEAP = Argon2Params(iterations=1, lanes=1, memory_cost=64)
STORE_KEY = bytes(range(32))
BACKUP_KEY = bytes(range(32, 64))
PASSPHRASE = "korrekt hest batteri hæfteklamme"


def make(data: bytes, *, store_key: bytes = STORE_KEY, passphrase: str | None = None,
         schema_version: int = 7, backup_key: bytes = BACKUP_KEY) -> bytes:
    out = io.BytesIO()
    seal(io.BytesIO(data), out, backup_key, store_key, schema_version, passphrase, CHEAP)
    return out.getvalue()


def restore(blob: bytes, store_key: bytes | None = STORE_KEY,
            passphrase: str | None = None) -> tuple[BackupHeader, bytes]:
    out = io.BytesIO()
    header = open_sealed(io.BytesIO(blob), out, store_key, passphrase)
    return header, out.getvalue()


def header_end(blob: bytes) -> int:
    (size,) = struct.unpack(">I", blob[len(MAGIC):len(MAGIC) + 4])
    return len(MAGIC) + 4 + size


def chunk_spans(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of each length-prefixed chunk record after the header."""
    spans, pos = [], header_end(blob)
    while pos < len(blob):
        (size,) = struct.unpack(">I", blob[pos:pos + 4])
        spans.append((pos, pos + 4 + size))
        pos += 4 + size
    assert pos == len(blob)
    return spans


def with_header(blob: bytes, header: dict) -> bytes:
    body = json.dumps(header, sort_keys=True).encode()
    return MAGIC + struct.pack(">I", len(body)) + body + blob[header_end(blob):]


def header_dict(blob: bytes) -> dict:
    return json.loads(blob[len(MAGIC) + 4:header_end(blob)])


def nonce_prefix_span(blob: bytes) -> range:
    """Byte offsets of the nonce_prefix *value* inside the header."""
    value = header_dict(blob)["nonce_prefix"].encode()
    start = blob.index(b'"nonce_prefix": "' + value) + len(b'"nonce_prefix": "')
    return range(start, start + len(value))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(backup, "CHUNK", 1000)
    return 1000


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 100_000])
def test_round_trip_with_store_key(size: int) -> None:
    data = os.urandom(size)
    blob = make(data)
    assert blob.startswith(MAGIC)
    assert len(data) < 16 or data not in blob
    header, restored = restore(blob)
    assert restored == data
    assert header.schema_version == 7
    created = dt.datetime.fromisoformat(header.created)
    assert abs(dt.datetime.now(dt.timezone.utc) - created) < dt.timedelta(minutes=1)


def test_round_trip_with_passphrase_only() -> None:
    data = b"transcript " * 500
    blob = make(data, passphrase=PASSPHRASE)
    _, restored = restore(blob, store_key=None, passphrase=PASSPHRASE)
    assert restored == data
    # either key opens it
    assert restore(blob, store_key=STORE_KEY, passphrase=None)[1] == data
    # a wrong store key does not stop the right passphrase
    assert restore(blob, store_key=os.urandom(32), passphrase=PASSPHRASE)[1] == data
    # a wrong passphrase does not stop the right store key
    assert restore(blob, store_key=STORE_KEY, passphrase="wrong")[1] == data


def test_empty_input_is_one_empty_final_chunk() -> None:
    blob = make(b"")
    spans = chunk_spans(blob)
    assert len(spans) == 1 and spans[0][1] - spans[0][0] == 4 + 16
    assert restore(blob)[1] == b""


def test_header_describes_the_backup_without_secrets() -> None:
    blob = make(b"data", passphrase=PASSPHRASE, schema_version=12)
    header, raw = read_header(io.BytesIO(blob))
    assert header.schema_version == 12 and isinstance(header.created, str)
    assert raw == blob[len(MAGIC) + 4:header_end(blob)]
    assert header.raw == json.loads(raw)
    assert header.raw["format"] == "fristed-backup" and header.raw["version"] == 1
    assert [k["kind"] for k in header.raw["keys"]] == ["store-key", "passphrase"]
    assert header.raw["keys"][1]["params"] == CHEAP.to_json()
    for secret in (STORE_KEY, BACKUP_KEY):
        assert secret not in blob and secret.hex().encode() not in blob and b64e(secret).encode() not in blob
    assert PASSPHRASE.encode() not in blob


def test_without_passphrase_only_the_store_key_is_wrapped() -> None:
    header, _ = read_header(io.BytesIO(make(b"x")))
    assert [k["kind"] for k in header.raw["keys"]] == ["store-key"]


def test_sealing_twice_differs() -> None:
    a, b = make(b"same data"), make(b"same data")
    assert a != b
    assert header_dict(a)["nonce_prefix"] != header_dict(b)["nonce_prefix"]


def test_backup_key_for_restore(tmp_path: Path) -> None:
    path = tmp_path / "node.backup"
    path.write_bytes(make(b"inner database", passphrase=PASSPHRASE))
    assert backup_key_for_restore(path, STORE_KEY, None) == BACKUP_KEY
    assert backup_key_for_restore(path, None, PASSPHRASE) == BACKUP_KEY
    with pytest.raises(BackupError, match="neither"):
        backup_key_for_restore(path, os.urandom(32), "wrong")


def test_round_trip_through_real_files(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    (tmp_path / "db").write_bytes(data)
    with open(tmp_path / "db", "rb") as src, open(tmp_path / "b.fristed", "wb") as out:
        seal(src, out, BACKUP_KEY, STORE_KEY, 3, PASSPHRASE, CHEAP)
    with open(tmp_path / "b.fristed", "rb") as src, open(tmp_path / "restored", "wb") as out:
        header = open_sealed(src, out, None, PASSPHRASE)
    assert (tmp_path / "restored").read_bytes() == data and header.schema_version == 3


# ---------------------------------------------------------------- wrong keys


def test_wrong_store_key() -> None:
    blob = make(b"secret")
    with pytest.raises(BackupError, match="neither the given key file nor the passphrase"):
        restore(blob, store_key=os.urandom(32))


def test_wrong_passphrase() -> None:
    blob = make(b"secret", passphrase=PASSPHRASE)
    with pytest.raises(BackupError, match="neither"):
        restore(blob, store_key=None, passphrase=PASSPHRASE + " ")
    with pytest.raises(BackupError, match="neither"):
        restore(blob, store_key=os.urandom(32), passphrase="wrong")


def test_no_key_given_or_no_matching_kind() -> None:
    with pytest.raises(BackupError, match="neither"):
        restore(make(b"x", passphrase=PASSPHRASE), store_key=None, passphrase=None)
    with pytest.raises(BackupError, match="neither"):
        restore(make(b"x"), store_key=None, passphrase=PASSPHRASE)


def test_keys_entry_with_junk_is_skipped() -> None:
    blob = make(b"payload")
    header = header_dict(blob)
    header["keys"] = [None, 3, "x", {"kind": "store-key"}, {"kind": "passphrase", "kdf": "argon2id"},
                      {"kind": "unknown"}] + header["keys"]
    # the header is bound into every chunk, so even this harmless edit must fail decryption
    with pytest.raises(BackupError, match="altered"):
        restore(with_header(blob, header), passphrase="pw")
    parsed, _ = read_header(io.BytesIO(with_header(blob, header)))
    assert unwrap_backup_key(parsed, STORE_KEY, "pw") == BACKUP_KEY
    with pytest.raises(BackupError):
        unwrap_backup_key(BackupHeader("", 1, {"keys": []}), STORE_KEY, "pw")


# ---------------------------------------------------------------- tampering


def test_flipping_any_body_byte_is_detected() -> None:
    blob = make(b"0123456789" * 10)
    start = header_end(blob)
    assert len(blob) - start == 4 + 100 + 16
    for i in range(start, len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(BackupError):
                restore(bytes(tampered))


def test_flipping_any_header_byte_is_detected() -> None:
    blob = make(b"payload", passphrase=PASSPHRASE)
    for i in range(header_end(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(BackupError):
                restore(bytes(tampered), passphrase=PASSPHRASE)


def test_truncating_anywhere_is_detected() -> None:
    blob = make(b"abcdef" * 30)
    for length in range(len(blob)):
        with pytest.raises(BackupError):
            restore(blob[:length])


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 100, struct.pack(">I", 16) + b"\x00" * 16])
def test_appending_data_is_detected(extra: bytes) -> None:
    blob = make(b"the end")
    with pytest.raises(BackupError, match="data after its end"):
        restore(blob + extra)


def test_appending_a_copy_of_the_final_chunk_is_detected() -> None:
    blob = make(b"the end")
    start, end = chunk_spans(blob)[-1]
    with pytest.raises(BackupError, match="data after its end"):
        restore(blob + blob[start:end])


@pytest.mark.parametrize("edit", [
    lambda h: h.update(created="2020-01-01T00:00:00+00:00"),
    lambda h: h.update(schema_version=h["schema_version"] + 1),
    lambda h: h.update(comment="restored from elsewhere"),
    lambda h: h["keys"].reverse(),
    lambda h: h["keys"].pop(),
    lambda h: h.update(nonce_prefix=b64e(bytes(7))),
])
def test_editing_the_header_is_detected(edit) -> None:  # type: ignore[no-untyped-def]
    blob = make(b"payload", passphrase=PASSPHRASE)
    header = header_dict(blob)
    edit(header)
    with pytest.raises(BackupError, match="altered"):
        restore(with_header(blob, header), passphrase=PASSPHRASE)


def test_reformatting_the_header_json_is_detected() -> None:
    blob = make(b"payload")
    header = header_dict(blob)
    body = json.dumps(header, indent=1).encode()  # same content, other bytes
    edited = MAGIC + struct.pack(">I", len(body)) + body + blob[header_end(blob):]
    assert read_header(io.BytesIO(edited))[0].raw == header
    with pytest.raises(BackupError, match="altered"):
        restore(edited)


@pytest.mark.parametrize("change,message", [
    ({"format": "other"}, "unknown backup format"),
    ({"version": 2}, "unknown backup format"),
    ({"schema_version": "7"}, "incomplete"),
    ({"created": 0}, "incomplete"),
    ({"keys": {}}, "incomplete"),
    ({"nonce_prefix": b64e(bytes(8))}, "bad nonce"),
    ({"nonce_prefix": 7}, "bad nonce"),
    ({"nonce_prefix": None}, "bad nonce"),
])
def test_bad_header_fields(change: dict, message: str) -> None:
    blob = make(b"payload")
    header = header_dict(blob)
    header.update(change)
    with pytest.raises(BackupError, match=message):
        restore(with_header(blob, header))


@pytest.mark.parametrize("blob,message", [
    (b"", "not a fristed backup"),
    (b"SQLite format 3\x00", "not a fristed backup"),
    (MAGIC[:-1], "not a fristed backup"),
    (MAGIC, "truncated"),
    (MAGIC + b"\x00\x00", "truncated"),
    (MAGIC + struct.pack(">I", MAX_HEADER + 1) + b"{}", "too large"),
    (MAGIC + struct.pack(">I", 0xFFFFFFFF), "too large"),
    (MAGIC + struct.pack(">I", 10) + b"{}", "truncated"),
    (MAGIC + struct.pack(">I", 2) + b"{}", "unknown backup format"),
    (MAGIC + struct.pack(">I", 2) + b"[]", "unknown backup format"),
    (MAGIC + struct.pack(">I", 3) + b"{\xff}", "not JSON"),
    (MAGIC + struct.pack(">I", 0), "not JSON"),
])
def test_read_header_rejections(blob: bytes, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        read_header(io.BytesIO(blob))
    with pytest.raises(BackupError, match=message):
        restore(blob)


@pytest.mark.parametrize("size", [0, 15, 0xFFFFFFFF])
def test_bad_chunk_sizes(size: int) -> None:
    blob = make(b"payload")
    start = header_end(blob)
    with pytest.raises(BackupError, match="bad size"):
        restore(blob[:start] + struct.pack(">I", size) + blob[start + 4:])


def test_chunk_from_another_backup_is_refused() -> None:
    a, b = make(b"first"), make(b"second")
    with pytest.raises(BackupError, match="altered"):
        restore(a[:header_end(a)] + b[header_end(b):])


# ---------------------------------------------------------------- multi-chunk


def test_multi_chunk_round_trip(small_chunks: int) -> None:
    for size in (small_chunks - 1, small_chunks, small_chunks + 1, 3 * small_chunks, 3500):
        data = os.urandom(size)
        blob = make(data)
        spans = chunk_spans(blob)
        assert len(spans) == max(1, -(-size // small_chunks))
        assert all(end - start == 4 + small_chunks + 16 for start, end in spans[:-1])
        assert restore(blob)[1] == data


def test_multi_chunk_backup_opens_with_the_default_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3500)
    with monkeypatch.context() as patch:
        patch.setattr(backup, "CHUNK", 1000)
        blob = make(data, passphrase=PASSPHRASE)
    assert backup.CHUNK == 1 << 20
    assert restore(blob, store_key=None, passphrase=PASSPHRASE)[1] == data


def test_oversized_chunk_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = make(os.urandom(3000))  # one 3000-byte chunk at the default size
    monkeypatch.setattr(backup, "CHUNK", 1000)
    with pytest.raises(BackupError, match="bad size"):
        restore(blob)


def test_reordering_dropping_or_duplicating_chunks_is_detected(small_chunks: int) -> None:
    blob = make(os.urandom(3500))
    head = blob[:header_end(blob)]
    parts = [blob[s:e] for s, e in chunk_spans(blob)]
    assert len(parts) == 4
    variants = {
        "swap 1 and 2": [parts[0], parts[2], parts[1], parts[3]],
        "swap first and last": [parts[3], parts[1], parts[2], parts[0]],
        "drop middle": [parts[0], parts[2], parts[3]],
        "drop first": parts[1:],
        "drop final": parts[:3],
        "only final": parts[3:],
        "duplicate middle": [parts[0], parts[1], parts[1], parts[2], parts[3]],
        "no chunks": [],
    }
    for name, chunks in variants.items():
        with pytest.raises(BackupError):
            restore(head + b"".join(chunks))
            pytest.fail(f"{name}: accepted")


def test_truncation_at_a_chunk_boundary_is_detected(small_chunks: int) -> None:
    blob = make(os.urandom(2500))
    for _, end in chunk_spans(blob)[:-1]:
        with pytest.raises(BackupError, match="truncated"):
            restore(blob[:end])


def test_flipping_bytes_in_every_chunk_is_detected(small_chunks: int) -> None:
    blob = make(os.urandom(2500))
    for start, end in chunk_spans(blob):
        for i in (start, start + 3, start + 4, (start + end) // 2, end - 1):
            tampered = bytearray(blob)
            tampered[i] ^= 0x40
            with pytest.raises(BackupError):
                restore(bytes(tampered))


# ---------------------------------------------------------------- properties


def _only_backup_error(blob: bytes, store_key: bytes | None = STORE_KEY,
                       passphrase: str | None = "pw") -> None:
    try:
        read_header(io.BytesIO(blob))
    except BackupError:
        pass
    try:
        restore(blob, store_key, passphrase)
    except BackupError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_backup_error(data: bytes) -> None:
    _only_backup_error(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_magic_plus_arbitrary_bytes_only_raise_backup_error(data: bytes) -> None:
    _only_backup_error(MAGIC + data)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.binary(max_size=60))
def test_arbitrary_json_headers_only_raise_backup_error(header: object, tail: bytes) -> None:
    body = json.dumps(header).encode()
    _only_backup_error(MAGIC + struct.pack(">I", len(body)) + body + tail)


@settings(max_examples=50, deadline=None)
@given(DEEP_JSON_TEXT, st.sampled_from(["", '{"format": "fristed-backup", "version": 1, "x": ']))
def test_deeply_nested_json_headers_only_raise_backup_error(nested: str, prefix: str) -> None:
    body = (prefix + nested).encode()
    with pytest.raises(BackupError):
        read_header(io.BytesIO(MAGIC + struct.pack(">I", len(body)) + body))
    _only_backup_error(MAGIC + struct.pack(">I", len(body)) + body)


_REAL = make(b"property payload", passphrase="pw")
_REAL_HEADER = header_dict(_REAL)

_HEADER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "format": st.just("fristed-backup") | JSON_VALUES,
        "version": st.just(1) | JSON_VALUES,
        "schema_version": st.integers() | JSON_VALUES,
        "created": st.just(_REAL_HEADER["created"]) | JSON_VALUES,
        "nonce_prefix": st.just(_REAL_HEADER["nonce_prefix"]) | st.binary(max_size=12).map(b64e)
        | st.text(max_size=16) | JSON_VALUES,
        "keys": st.just(_REAL_HEADER["keys"]) | st.lists(
            st.sampled_from(_REAL_HEADER["keys"]) | st.fixed_dictionaries(
                {"kind": st.sampled_from(["store-key", "passphrase"])},
                optional={"nonce": JSON_VALUES, "ciphertext": JSON_VALUES, "kdf": st.just("argon2id"),
                          "salt": JSON_VALUES}) | JSON_VALUES, max_size=3) | JSON_VALUES,
    })


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HEADER_FIELDS, st.sampled_from(["real body", "no body", "junk body"]),
       st.sampled_from([(STORE_KEY, None), (None, "pw"), (None, None), (os.urandom(32), "no")]))
def test_structured_headers_only_raise_backup_error(header: dict, body: str, keys: tuple) -> None:
    text = json.dumps(header, sort_keys=True).encode()  # sorted like seal() writes it
    head = MAGIC + struct.pack(">I", len(text)) + text
    tail = {"real body": _REAL[header_end(_REAL):], "no body": b"",
            "junk body": struct.pack(">I", 40) + bytes(40)}[body]
    try:
        _, data = restore(head + tail, *keys)
    except BackupError:
        return
    assert data == b"property payload"  # success only with the untouched original header
    assert header == _REAL_HEADER


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_REAL) - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_random_edits_of_a_real_backup_are_detected(edits: list[tuple[int, int]]) -> None:
    tampered = bytearray(_REAL)
    for index, mask in edits:
        tampered[index] ^= mask
    if bytes(tampered) == _REAL:
        return
    with pytest.raises(BackupError):
        restore(bytes(tampered), STORE_KEY, "pw")


# ---------------------------------------------------------------- regressions


@pytest.mark.parametrize("prefix", ["!!!!", "AAAAAAAAAA=<", "ÆØÅ", "AAAAAAAAAA==\n", "\udcff", ""])
@pytest.mark.parametrize("keys", [(STORE_KEY, None), (None, PASSPHRASE)])
def test_non_base64_nonce_prefix_raises_backup_error(prefix: str, keys: tuple) -> None:
    # the key unwraps fine, so only the nonce prefix is wrong
    blob = make(b"payload", passphrase=PASSPHRASE)
    header = header_dict(blob)
    header["nonce_prefix"] = prefix
    with pytest.raises(BackupError, match="bad nonce"):
        restore(with_header(blob, header), *keys)


def test_flipping_nonce_prefix_bytes_raises_backup_error() -> None:
    blob = make(b"payload")
    span = nonce_prefix_span(blob)
    assert len(span) == 12  # 7 bytes, base64 with '=' padding
    for i in span:
        for mask in range(1, 256):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(BackupError):
                restore(bytes(tampered))


@pytest.mark.parametrize("body", [b"[" * 50_000, b'{"a":' * 10_000, b"[" * 20_000 + b"]" * 20_000,
                                  b'{"format": "fristed-backup", "version": 1, "x": ' + b"[" * 50_000])
def test_deeply_nested_header_raises_backup_error(body: bytes) -> None:
    assert len(body) <= MAX_HEADER
    blob = MAGIC + struct.pack(">I", len(body)) + body
    with pytest.raises(BackupError, match="not JSON"):
        read_header(io.BytesIO(blob))
    with pytest.raises(BackupError, match="not JSON"):
        restore(blob)


def test_deeply_nested_header_file_raises_backup_error(tmp_path: Path) -> None:
    body = b"[" * 50_000
    path = tmp_path / "deep.backup"
    path.write_bytes(MAGIC + struct.pack(">I", len(body)) + body)
    with pytest.raises(BackupError, match="not JSON"):
        backup_key_for_restore(path, STORE_KEY, PASSPHRASE)


@pytest.mark.parametrize("field", ["iterations", "lanes", "memory_cost"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinite_argon2_params_in_header_raise_backup_error(field: str, value: float) -> None:
    blob = make(b"payload", passphrase="pw")
    header = header_dict(blob)
    header["keys"] = [header["keys"][1]]
    header["keys"][0]["params"][field] = value  # json.dumps writes Infinity / -Infinity
    edited = with_header(blob, header)
    assert b"Infinity" in edited
    with pytest.raises(BackupError, match="neither"):
        restore(edited, store_key=None, passphrase="pw")


def test_infinite_argon2_params_do_not_stop_the_store_key() -> None:
    blob = make(b"payload", passphrase="pw")
    header = header_dict(blob)
    header["keys"][1]["params"]["iterations"] = float("inf")
    parsed, _ = read_header(io.BytesIO(with_header(blob, header)))
    assert unwrap_backup_key(parsed, STORE_KEY, "pw") == BACKUP_KEY
    with pytest.raises(BackupError, match="neither"):
        unwrap_backup_key(parsed, None, "pw")


@pytest.mark.parametrize("passphrase", ["p\udcffw", "\ud800"])
def test_undecodable_passphrase_raises_backup_error(passphrase: str) -> None:
    blob = make(b"payload", passphrase=PASSPHRASE)
    with pytest.raises(BackupError, match="neither"):
        restore(blob, store_key=None, passphrase=passphrase)
    # the store key still opens it
    assert restore(blob, store_key=STORE_KEY, passphrase=passphrase)[1] == b"payload"

"""crypto.storekey: custody of the store's raw key in a 0600 key file, optionally passphrase-wrapped."""
from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import storekey
from crypto.storekey import (FORMAT, KEY_BYTES, LABEL, MAX_KEY_FILE, KeyFileError, StoreKey,
                             database_name, generate_key, next_database_name, parse_key_file,
                             raw_key_pragma, read_key_file, write_key_file)
from crypto.wrapping import Argon2Params, UnwrapError, wrap_with_passphrase
from tests.crypto.strategies import (CHEAP_PARAM_FIELD, CHEAP_VALID_PARAMS, DEEP_JSON_TEXT, JSON_VALUES,
                                     MAYBE_B64, params_dict)

CHEAP = Argon2Params(iterations=1, lanes=1, memory_cost=64)
PASSPHRASE = "korrekt hest batteri hæfteklamme"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _never_asked() -> str:
    raise AssertionError("the passphrase must not be asked for a file-custody key")


# ---------------------------------------------------------------- round trips


def test_generate_key_is_32_random_bytes() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50 and all(len(k) == KEY_BYTES == 32 for k in keys)


def test_file_custody_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    key = generate_key()
    write_key_file(path, key, "store-1.db")
    body = json.loads(path.read_text())
    assert body == {"format": FORMAT, "version": 1, "database": "store-1.db",
                    "custody": "file", "key": key.hex()}
    loaded = read_key_file(path, _never_asked)
    assert loaded == StoreKey(key, "store-1.db", "file")
    assert read_key_file(path) == loaded
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.key"]  # no .tmp left behind


def test_passphrase_custody_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    key = generate_key()
    write_key_file(path, key, "store-7.db", passphrase=PASSPHRASE, params=CHEAP)
    text = path.read_text()
    assert key.hex() not in text and key.hex().upper() not in text
    body = json.loads(text)
    assert body["custody"] == "passphrase" and "key" not in body
    assert body["wrapped"]["kdf"] == "argon2id" and body["wrapped"]["params"] == CHEAP.to_json()
    asked: list[int] = []

    def source() -> str:
        asked.append(1)
        return PASSPHRASE

    loaded = read_key_file(path, source)
    assert loaded == StoreKey(key, "store-7.db", "passphrase")
    assert asked == [1]
    assert _mode(path) == 0o600


def test_key_file_is_0600_even_when_replacing_a_wider_file(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_key_file(path, generate_key(), "store-1.db")
    assert _mode(path) == 0o600
    write_key_file(path, generate_key(), "store-2.db", passphrase="pw", params=CHEAP)
    assert _mode(path) == 0o600


def test_rewriting_replaces_key_and_database_together(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    old, new = generate_key(), generate_key()
    write_key_file(path, old, "store-1.db")
    write_key_file(path, new, next_database_name("store-1.db"))
    assert read_key_file(path) == StoreKey(new, "store-2.db", "file")


@pytest.mark.parametrize("name", ["", "store.db", "store-.db", "store-1234567890.db", "store-1.sqlite",
                                  "../store-1.db", "/tmp/store-1.db", "store-1.db.bak", "store--1.db",
                                  "store-١.db", "Store-1.db"])
def test_write_key_file_rejects_bad_database_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / "store.key"
    with pytest.raises(ValueError, match="bad database name"):
        write_key_file(path, generate_key(), name)
    assert not path.exists()


# ---------------------------------------------------------------- passphrase errors


def test_wrong_passphrase_raises_key_file_error_with_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    write_key_file(path, generate_key(), "store-1.db", passphrase=PASSPHRASE, params=CHEAP)
    with pytest.raises(KeyFileError) as info:
        read_key_file(path, lambda: PASSPHRASE + "!")
    assert str(info.value) == "cannot unlock the store key: wrong key or passphrase"
    assert PASSPHRASE not in str(info.value)


def test_wrapped_key_without_passphrase_source(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    write_key_file(path, generate_key(), "store-1.db", passphrase=PASSPHRASE, params=CHEAP)
    with pytest.raises(KeyFileError, match="protected by a passphrase; none was given"):
        read_key_file(path)


def test_tampered_wrapped_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    write_key_file(path, generate_key(), "store-1.db", passphrase=PASSPHRASE, params=CHEAP)
    body = json.loads(path.read_text())
    salt = bytearray(base64.b64decode(body["wrapped"]["salt"]))
    salt[0] ^= 0x80
    body["wrapped"]["salt"] = base64.b64encode(bytes(salt)).decode()
    with pytest.raises(KeyFileError, match="cannot unlock the store key"):
        parse_key_file(json.dumps(body), lambda: PASSPHRASE)


def test_wrapped_key_of_wrong_length_is_refused() -> None:
    body = {"format": FORMAT, "version": 1, "database": "store-1.db", "custody": "passphrase",
            "wrapped": wrap_with_passphrase(b"k" * 16, "pw", LABEL, CHEAP)}
    with pytest.raises(KeyFileError, match="wrong length"):
        parse_key_file(json.dumps(body), lambda: "pw")


def test_key_wrapped_for_another_purpose_is_refused() -> None:
    body = {"format": FORMAT, "version": 1, "database": "store-1.db", "custody": "passphrase",
            "wrapped": wrap_with_passphrase(b"k" * 32, "pw", b"fristed backup key v1", CHEAP)}
    with pytest.raises(KeyFileError, match="cannot unlock"):
        parse_key_file(json.dumps(body), lambda: "pw")


# ---------------------------------------------------------------- StoreKey, pragmas, names


def test_repr_never_shows_key_material() -> None:
    key = bytes(range(32))
    for custody in ("file", "passphrase"):
        sk = StoreKey(key, "store-3.db", custody)
        for text in (repr(sk), str(sk), f"{sk}", f"{sk!r}", repr([sk]), repr({"k": sk})):
            assert key.hex() not in text and key.hex().upper() not in text
            assert repr(key) not in text and "key=" not in text
            assert "store-3.db" in text and custody in text
    assert repr(StoreKey(key, "store-3.db", "file")) == "StoreKey(database='store-3.db', custody='file')"


def test_raw_key_pragma_format() -> None:
    key = bytes(range(32))
    assert raw_key_pragma(key) == f"PRAGMA key = \"x'{key.hex()}'\""
    assert raw_key_pragma(key, "rekey") == f"PRAGMA rekey = \"x'{key.hex()}'\""
    assert StoreKey(key, "store-1.db", "file").pragma() == raw_key_pragma(key)
    assert raw_key_pragma(b"\x00" * 32) == "PRAGMA key = \"x'" + "00" * 32 + "'\""


@pytest.mark.parametrize("size", [0, 1, 16, 31, 33, 64])
def test_raw_key_pragma_rejects_wrong_lengths(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        raw_key_pragma(b"k" * size)


def test_database_names() -> None:
    assert database_name(1) == "store-1.db"
    assert next_database_name("store-1.db") == "store-2.db"
    assert next_database_name("store-0.db") == "store-1.db"
    assert next_database_name("store-9.db") == "store-10.db"
    assert next_database_name("store-41.db") == "store-42.db"
    assert next_database_name(next_database_name("store-1.db")) == "store-3.db"
    assert storekey._DB_NAME.fullmatch(next_database_name("store-99999998.db"))
    with pytest.raises(ValueError):
        next_database_name("not-a-store.sqlite")


# ---------------------------------------------------------------- reading and parsing errors


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no key file at"):
        read_key_file(tmp_path / "absent.key")


def test_unreadable_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read key file: IsADirectoryError"):
        read_key_file(tmp_path)
    binary = tmp_path / "binary.key"
    binary.write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(KeyFileError, match="cannot read key file: UnicodeDecodeError"):
        read_key_file(binary)


def test_oversized_key_file(tmp_path: Path) -> None:
    path = tmp_path / "big.key"
    body = {"format": FORMAT, "version": 1, "database": "store-1.db", "custody": "file",
            "key": "ab" * 32, "padding": "x" * MAX_KEY_FILE}
    path.write_text(json.dumps(body))
    with pytest.raises(KeyFileError, match="too large"):
        read_key_file(path)
    with pytest.raises(KeyFileError, match="too large"):
        parse_key_file(json.dumps(body), None)


def _body(**changes: object) -> str:
    body: dict[str, object] = {"format": FORMAT, "version": 1, "database": "store-1.db",
                               "custody": "file", "key": "ab" * 32}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not _DROP})


_DROP = object()


@pytest.mark.parametrize("text,message", [
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ("key=abc", "not valid JSON"),
    ("[]", "not a fristed key file"),
    ('"fristed-store-key"', "not a fristed key file"),
    ("null", "not a fristed key file"),
    (_body(format="fristed-backup"), "not a fristed key file"),
    (_body(format=_DROP), "not a fristed key file"),
    (_body(version=2), "not a fristed key file"),
    (_body(version="1"), "not a fristed key file"),
    (_body(database=_DROP), "names no valid database"),
    (_body(database=1), "names no valid database"),
    (_body(database="../../etc/passwd"), "names no valid database"),
    (_body(database="store-1.db/../x"), "names no valid database"),
    (_body(key=_DROP), "no valid 256-bit key"),
    (_body(key="AB" * 32), "no valid 256-bit key"),
    (_body(key="ab" * 31), "no valid 256-bit key"),
    (_body(key="ab" * 33), "no valid 256-bit key"),
    (_body(key="zz" * 32), "no valid 256-bit key"),
    (_body(key="ab" * 32 + "\n"), "no valid 256-bit key"),
    (_body(key=list(range(32))), "no valid 256-bit key"),
    (_body(custody=_DROP), "unknown key custody"),
    (_body(custody="tpm"), "unknown key custody"),
    (_body(custody="passphrase"), "cannot unlock the store key"),  # no "wrapped"
])
def test_parse_key_file_rejections(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_key_file(text, lambda: "pw")


def test_parse_key_file_accepts_whitespace_and_extra_fields() -> None:
    text = "\n  " + _body(comment="written by fristed init") + "\n"
    assert parse_key_file(text, None) == StoreKey(bytes.fromhex("ab" * 32), "store-1.db", "file")


# ---------------------------------------------------------------- properties


def _check_parse(text: str, passphrase: str = "pw") -> None:
    try:
        result = parse_key_file(text, lambda: passphrase)
    except KeyFileError:
        return
    assert isinstance(result, StoreKey)
    assert len(result.key) == KEY_BYTES
    assert result.custody in ("file", "passphrase")
    assert storekey._DB_NAME.fullmatch(result.database)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.from_regex(r"\A[\[\]{}\"0-9a-z:, .\-]*\Z") | DEEP_JSON_TEXT)
def test_parse_key_file_on_arbitrary_text(text: str) -> None:
    _check_parse(text)


_REAL_WRAPPED = wrap_with_passphrase(bytes(range(32)), "pw", LABEL, CHEAP)

_WRAPPED = (
    st.just(_REAL_WRAPPED)
    | st.fixed_dictionaries(
        {},
        optional={
            "kdf": st.just("argon2id") | JSON_VALUES,
            "salt": st.binary(min_size=8, max_size=64).map(lambda b: base64.b64encode(b).decode())
            | MAYBE_B64,
            "params": CHEAP_VALID_PARAMS | params_dict(CHEAP_PARAM_FIELD) | JSON_VALUES,
            "nonce": MAYBE_B64,
            "ciphertext": MAYBE_B64,
        })
    | JSON_VALUES
)

_KEY_FILE_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "format": st.just(FORMAT) | JSON_VALUES,
        "version": st.sampled_from([1, 1.0, True, 2, 0, "1"]) | JSON_VALUES,
        "database": st.from_regex(r"\Astore-[0-9]{1,10}\.db\n?\Z") | st.just("store-1.db") | JSON_VALUES,
        "custody": st.sampled_from(["file", "passphrase"]) | JSON_VALUES,
        "key": st.binary(min_size=30, max_size=34).map(bytes.hex) | st.text(alphabet="0123456789abcdefABCDEF",
                                                                              min_size=63, max_size=65)
        | JSON_VALUES,
        "wrapped": _WRAPPED,
    },
) | st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5)


@settings(max_examples=300, deadline=None)
@given(_KEY_FILE_OBJECTS, st.sampled_from(["pw", "wrong", ""]))
def test_parse_key_file_on_arbitrary_json_objects(body: dict, passphrase: str) -> None:
    _check_parse(json.dumps(body), passphrase)


@settings(max_examples=50, deadline=None)
@given(DEEP_JSON_TEXT, st.sampled_from(["", '{"format": "fristed-store-key", "version": 1, "x": ']))
def test_parse_key_file_on_deeply_nested_json(nested: str, prefix: str) -> None:
    with pytest.raises(KeyFileError):
        parse_key_file(prefix + nested, lambda: "pw")


def test_real_wrapped_blob_opens_only_with_its_passphrase() -> None:
    text = json.dumps({"format": FORMAT, "version": 1, "database": "store-1.db",
                       "custody": "passphrase", "wrapped": _REAL_WRAPPED})
    assert parse_key_file(text, lambda: "pw").key == bytes(range(32))
    with pytest.raises(KeyFileError):
        parse_key_file(text, lambda: "wrong")


# ---------------------------------------------------------------- regressions


@pytest.mark.parametrize("text", ["[" * 5000, '{"a":' * 1500, "[" * 1000 + "]" * 1000,
                                  '{"format": "fristed-store-key", "x": ' + "[" * 3000])
def test_deeply_nested_key_file_raises_key_file_error(text: str) -> None:
    assert len(text) <= MAX_KEY_FILE
    with pytest.raises(KeyFileError, match="not valid JSON"):
        parse_key_file(text, None)


def test_deeply_nested_key_file_on_disk_raises_key_file_error(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    path.write_text("[" * 5000)
    with pytest.raises(KeyFileError, match="not valid JSON"):
        read_key_file(path, lambda: "pw")


@pytest.mark.parametrize("field", ["iterations", "lanes", "memory_cost"])
@pytest.mark.parametrize("value", ["Infinity", "-Infinity"])
def test_infinite_argon2_params_raise_key_file_error(field: str, value: str) -> None:
    params = {"iterations": "1", "lanes": "1", "memory_cost": "64"}
    params[field] = value
    text = ('{"format": "fristed-store-key", "version": 1, "database": "store-1.db", '
            '"custody": "passphrase", "wrapped": {"kdf": "argon2id", "salt": "AAAAAAAAAAAAAAAAAAAAAA==", '
            '"params": {"iterations": %(iterations)s, "lanes": %(lanes)s, "memory_cost": %(memory_cost)s}, '
            '"nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA=="}}') % params
    with pytest.raises(KeyFileError, match="cannot unlock the store key: bad Argon2 parameters"):
        parse_key_file(text, lambda: "pw")


@pytest.mark.parametrize("name", ["store-1.db\n", "store-1.db\r\n", "\nstore-1.db", "store-1.db "])
def test_database_name_with_trailing_newline_is_refused(name: str) -> None:
    with pytest.raises(KeyFileError, match="names no valid database"):
        parse_key_file(_body(database=name), None)


@pytest.mark.parametrize("name", ["store-1.db\n", "store-1.db\r\n", "\nstore-1.db"])
def test_write_key_file_refuses_trailing_newline(tmp_path: Path, name: str) -> None:
    path = tmp_path / "store.key"
    with pytest.raises(ValueError, match="bad database name"):
        write_key_file(path, generate_key(), name)
    assert not path.exists()


@pytest.mark.parametrize("passphrase", ["p\udcffw", "\ud800", "pw\udfff"])
def test_undecodable_passphrase_raises_key_file_error(tmp_path: Path, passphrase: str) -> None:
    # getpass yields lone surrogates for input it cannot decode
    path = tmp_path / "store.key"
    write_key_file(path, generate_key(), "store-1.db", passphrase="pw", params=CHEAP)
    with pytest.raises(KeyFileError, match="cannot unlock the store key") as info:
        read_key_file(path, lambda: passphrase)
    assert isinstance(info.value.__cause__, UnwrapError)


def test_stale_tmp_file_is_replaced_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "store.key"
    tmp = tmp_path / "store.key.tmp"
    tmp.write_text("left over from a crash")
    os.chmod(tmp, 0o644)
    key = generate_key()
    write_key_file(path, key, "store-1.db")
    assert read_key_file(path) == StoreKey(key, "store-1.db", "file")
    assert _mode(path) == 0o600
    assert not tmp.exists()


def test_tmp_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("do not touch")
    os.chmod(victim, 0o644)
    (tmp_path / "store.key.tmp").symlink_to(victim)
    key = generate_key()
    write_key_file(tmp_path / "store.key", key, "store-1.db")
    assert victim.read_text() == "do not touch" and _mode(victim) == 0o644
    assert not (tmp_path / "store.key").is_symlink()
    assert read_key_file(tmp_path / "store.key") == StoreKey(key, "store-1.db", "file")

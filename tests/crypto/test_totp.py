"""crypto.totp: RFC 6238 codes for the staff second factor."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crypto import totp
from crypto.totp import (DIGITS, STEP, WINDOW, code_at, matching_step, new_secret, provisioning_uri,
                         secret_base32)

RFC_SECRET = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1
NOW = 1_700_000_015.7  # mid-step, fractional on purpose
NOW_STEP = int(NOW) // STEP


@pytest.mark.parametrize("when,code", [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
                                       (1234567890, "005924"), (2000000000, "279037"),
                                       (20000000000, "353130")])
def test_code_at_matches_rfc6238_vectors(when: int, code: str) -> None:
    # RFC 6238 lists 8-digit codes; the 6-digit code is their last six digits.
    assert code_at(RFC_SECRET, when) == code
    assert code_at(RFC_SECRET, when + 0.999) == code


def test_new_secret_and_base32() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) == 20 for s in secrets)
    secret = new_secret()
    text = secret_base32(secret)
    assert "=" not in text and len(text) == 32
    assert base64.b32decode(text) == secret
    assert secret_base32(RFC_SECRET) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert secret_base32(b"\x00" * 10) == "AAAAAAAAAAAAAAAA"
    assert base64.b32decode(secret_base32(b"abc") + "=" * 3) == b"abc"


def test_code_is_six_digits_and_changes_each_step() -> None:
    secret = new_secret()
    codes = [code_at(secret, NOW + i * STEP) for i in range(-3, 4)]
    assert all(len(c) == DIGITS == 6 and c.isdigit() and c.isascii() for c in codes)
    assert code_at(secret, NOW_STEP * STEP) == code_at(secret, NOW_STEP * STEP + STEP - 1)


def test_matching_step_round_trip() -> None:
    secret = new_secret()
    assert matching_step(secret, code_at(secret, NOW), NOW) == NOW_STEP
    assert matching_step(RFC_SECRET, "005924", 1234567890) == 1234567890 // STEP


def test_window_accepts_one_step_either_side() -> None:
    assert WINDOW == 1
    secret = RFC_SECRET
    assert matching_step(secret, code_at(secret, NOW - STEP), NOW) == NOW_STEP - 1
    assert matching_step(secret, code_at(secret, NOW + STEP), NOW) == NOW_STEP + 1
    # the edges of the current step
    assert matching_step(secret, code_at(secret, NOW_STEP * STEP), NOW_STEP * STEP) == NOW_STEP
    assert matching_step(secret, code_at(secret, NOW_STEP * STEP - 1), NOW_STEP * STEP) == NOW_STEP - 1


def test_codes_outside_the_window_are_refused() -> None:
    secret = RFC_SECRET
    window = {code_at(secret, (NOW_STEP + d) * STEP) for d in (-1, 0, 1)}
    for delta in (-10, -3, -2, 2, 3, 10, 1000):
        code = code_at(secret, (NOW_STEP + delta) * STEP)
        assert code not in window  # deterministic secret: no accidental collision
        assert matching_step(secret, code, NOW) is None


def test_wrong_secret_refused() -> None:
    code = code_at(RFC_SECRET, NOW)
    other = b"09876543210987654321"
    assert code_at(other, NOW) != code
    assert matching_step(other, code, NOW) is None


def test_replay_is_refused_via_last_step() -> None:
    secret = RFC_SECRET
    code = code_at(secret, NOW)
    step = matching_step(secret, code, NOW)
    assert step == NOW_STEP
    assert matching_step(secret, code, NOW, last_step=step) is None
    assert matching_step(secret, code, NOW + 10, last_step=step) is None  # same step, later
    assert matching_step(secret, code, NOW + STEP, last_step=step) is None  # as previous-step code
    assert matching_step(secret, code, NOW, last_step=step - 1) == step
    assert matching_step(secret, code, NOW, last_step=step + 1) is None
    # a previous-step code is refused once the current step has been used
    assert matching_step(secret, code_at(secret, NOW - STEP), NOW, last_step=NOW_STEP) is None
    # and the next step's code is still accepted after the current one
    assert matching_step(secret, code_at(secret, NOW + STEP), NOW, last_step=NOW_STEP) == NOW_STEP + 1
    # last_step=0 is a real value, not "no previous login"
    assert matching_step(secret, code, NOW, last_step=0) == NOW_STEP


@pytest.mark.parametrize("when", [0, 0.0, 0.5, 1, 15, 29, 29.999])
def test_matching_step_in_the_first_step_does_not_raise(when: float) -> None:
    # the window reaches back to step -1 here; it must be skipped, not passed to TOTP
    assert int(when) < STEP
    first, second = code_at(RFC_SECRET, 0), code_at(RFC_SECRET, STEP)
    assert matching_step(RFC_SECRET, first, when) == 0
    assert matching_step(RFC_SECRET, second, when) == 1
    assert matching_step(RFC_SECRET, first, when, last_step=0) is None
    assert matching_step(RFC_SECRET, second, when, last_step=0) == 1
    assert matching_step(RFC_SECRET, code_at(RFC_SECRET, 2 * STEP), when) is None
    assert matching_step(RFC_SECRET, "000000", when) in (None, 0, 1)
    assert matching_step(RFC_SECRET, "abcdef", when) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=10, max_size=64), st.floats(0, STEP, exclude_max=True), st.sampled_from(["0", "1", "x"]),
       st.none() | st.integers(-2, 2))
def test_matching_step_before_the_second_step_never_raises(secret: bytes, when: float, which: str,
                                                           last_step: int | None) -> None:
    code = {"0": code_at(secret, 0), "1": code_at(secret, STEP), "x": "123456"}[which]
    step = matching_step(secret, code, when, last_step)
    assert step is None or step in (0, 1)
    if step is not None:
        assert code_at(secret, step * STEP) == code
        assert last_step is None or step > last_step
    if which != "x" and (last_step is None or last_step < 0):
        assert step is not None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", " 123456", "123456 ", "12345a", "12 345",
                                 "١٢٣٤٥٦", "１２３４５６", "+12345", "-12345", "123456\n", "\n123456",
                                 "0x1234", "１23456"])
def test_non_six_digit_codes_are_refused(bad: str) -> None:
    assert matching_step(RFC_SECRET, bad, NOW) is None


def test_correct_code_with_decoration_is_refused() -> None:
    code = code_at(RFC_SECRET, NOW)
    for decorated in (code + "\n", " " + code, code + " ", code[:3] + " " + code[3:], code + "0"):
        assert matching_step(RFC_SECRET, decorated, NOW) is None


@pytest.mark.parametrize("bad", [None, 123456, 123456.0, b"123456", ["123456"]])
def test_non_text_codes_are_refused(bad: object) -> None:
    assert matching_step(RFC_SECRET, bad, NOW) is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12) | st.from_regex(r"\A[0-9]{5,7}\s?\Z"), st.integers(0, 5))
def test_matching_step_on_arbitrary_text_never_raises(code: str, offset: int) -> None:
    when = NOW + offset * 7
    result = matching_step(RFC_SECRET, code, when)
    assert result is None or type(result) is int
    if result is not None:
        assert len(code) == 6 and code.isascii() and code.isdigit()
        assert abs(result - int(when) // STEP) <= WINDOW
        assert code_at(RFC_SECRET, result * STEP) == code


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=10, max_size=64), st.integers(STEP * 2, 2**33), st.integers(-1, 1))
def test_round_trip_for_any_secret_and_time(secret: bytes, when: int, delta: int) -> None:
    code = code_at(secret, when + delta * STEP)
    step = matching_step(secret, code, when)
    assert step is not None and abs(step - when // STEP) <= WINDOW
    # step may be an earlier in-window step only when its code collides
    assert code_at(secret, step * STEP) == code
    assume(step == when // STEP + delta)
    # replaying it is refused, unless a later in-window step happens to share the code
    later = matching_step(secret, code, when, last_step=step)
    assert later is None or (later > step and code_at(secret, later * STEP) == code)


def test_provisioning_uri() -> None:
    secret = RFC_SECRET
    uri = provisioning_uri(secret, "anna@fristed.dk", "Fristed Nord")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/Fristed Nord:anna@fristed.dk"
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {"secret": [secret_base32(secret)], "issuer": ["Fristed Nord"], "algorithm": ["SHA1"],
                     "digits": ["6"], "period": ["30"]}
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri
    assert " " not in uri


def test_provisioning_uri_escapes_query_breaking_characters() -> None:
    uri = provisioning_uri(RFC_SECRET, "jens&co?x=1", "Værested #3 & Co")
    query = parse_qs(urlsplit(uri).query, strict_parsing=True)
    assert query["issuer"] == ["Værested #3 & Co"]
    assert query["secret"] == [secret_base32(RFC_SECRET)]
    assert unquote(urlsplit(uri).path) == "/Værested #3 & Co:jens&co?x=1"
    assert uri.isascii()


def test_module_constants() -> None:
    assert (totp.DIGITS, totp.STEP, totp.WINDOW) == (6, 30, 1)

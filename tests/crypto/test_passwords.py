"""crypto.passwords: staff password policy and Argon2id password hashes."""
from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.passwords import (LOGIN_PARAMS, MAX_LENGTH, MIN_LENGTH, PasswordPolicyError, check_policy,
                              common_passwords, dummy_verify, hash_password, verify_password)
from crypto.wrapping import Argon2Params, b64e

CHEAP = Argon2Params(iterations=1, lanes=1, memory_cost=64)
GOOD = "korrekt hest batteri hæfteklamme"


# ---------------------------------------------------------------- policy


def test_common_password_list_is_loaded_lower_case() -> None:
    common = common_passwords()
    assert "passwordpassword" in common and "password" in common
    assert all(p == p.lower() and p == p.strip() and p for p in common)
    assert common_passwords() is common  # cached


@pytest.mark.parametrize("password", [GOOD, "x" * 3 + "abc" + "123456", "Tr0ub4dor&3xyz", "a1b2" * 3,
                                      "å" * 4 + "bcd" + "12345", "x" * (MAX_LENGTH - 3) + "abc"])
def test_policy_accepts_fine_passwords(password: str) -> None:
    check_policy(password)
    check_policy(password, name="jens")


@pytest.mark.parametrize("password", ["", "abc", "kort kode", "a" * (MIN_LENGTH - 4) + "bcd"])
def test_policy_rejects_too_short(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match=f"at least {MIN_LENGTH} characters"):
        check_policy(password)


def test_policy_length_bounds_are_inclusive() -> None:
    check_policy("abcd" * 3)  # exactly MIN_LENGTH
    check_policy(("abcd" * 100)[:MAX_LENGTH])
    with pytest.raises(PasswordPolicyError, match="at least"):
        check_policy("abcdabcdabc")  # MIN_LENGTH - 1


@pytest.mark.parametrize("password", [("abcd" * 100)[:MAX_LENGTH + 1], "x" * 10_000 + "abc"])
def test_policy_rejects_too_long(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match=f"at most {MAX_LENGTH} characters"):
        check_policy(password)


@pytest.mark.parametrize("password", ["passwordpassword", "PasswordPassword", "PASSWORDPASSWORD",
                                      "password1234", "111111111111", "aaaaaaaaaaaaaaaa",
                                      "abcabcabcabcabc", "ababababababab"])
def test_policy_rejects_common_or_simple(password: str) -> None:
    with pytest.raises(PasswordPolicyError, match="too common or too simple"):
        check_policy(password)


def test_every_listed_common_password_of_valid_length_is_rejected() -> None:
    for common in common_passwords():
        if MIN_LENGTH <= len(common) <= MAX_LENGTH:
            with pytest.raises(PasswordPolicyError):
                check_policy(common)
            with pytest.raises(PasswordPolicyError):
                check_policy(common.upper())


@pytest.mark.parametrize("password,name", [("jens-hansen-1987!", "jens"), ("MyNameIsJENS-ok", "Jens"),
                                           ("xx" + "mette.k" + "2024!!", "Mette.K")])
def test_policy_rejects_password_containing_name(password: str, name: str) -> None:
    with pytest.raises(PasswordPolicyError, match="must not contain the user name"):
        check_policy(password, name=name)
    check_policy(password)  # fine without the name


@pytest.mark.parametrize("value", [None, 123456789012, b"bytes password 1234", ["a" * 12]])
def test_policy_rejects_non_text(value: object) -> None:
    with pytest.raises(PasswordPolicyError, match="must be text"):
        check_policy(value)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=8))
def test_policy_only_raises_policy_errors(password: str, name: str) -> None:
    try:
        check_policy(password, name=name)
    except PasswordPolicyError:
        return
    assert MIN_LENGTH <= len(password) <= MAX_LENGTH
    assert password.lower() not in common_passwords()
    assert not name or name.lower() not in password.lower()


# ---------------------------------------------------------------- hashing


def test_hash_format_and_round_trip_cheap() -> None:
    stored = hash_password(GOOD, CHEAP)
    kind, t, p, m, salt, digest = stored.split("$")
    assert (kind, t, p, m) == ("argon2id", "1", "1", "64")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert GOOD not in stored
    assert verify_password(GOOD, stored)
    assert not verify_password(GOOD + " ", stored)
    assert not verify_password("Korrekt hest batteri hæfteklamme", stored)
    assert not verify_password("", stored)


def test_hash_with_login_params_round_trip() -> None:
    assert LOGIN_PARAMS == Argon2Params(iterations=2, lanes=1, memory_cost=19 * 1024)
    stored = hash_password(GOOD)
    assert stored.startswith(f"argon2id$2$1${19 * 1024}$")
    assert verify_password(GOOD, stored)
    assert not verify_password("wrong password 123", stored)


def test_hashes_are_salted() -> None:
    a, b = hash_password(GOOD, CHEAP), hash_password(GOOD, CHEAP)
    assert a != b
    assert verify_password(GOOD, a) and verify_password(GOOD, b)


def test_verify_rejects_password_over_max_length_without_hashing() -> None:
    long = "x" * (MAX_LENGTH + 1)
    stored = hash_password(long, CHEAP)  # hashing does not enforce the policy
    assert not verify_password(long, stored)
    exact = "y" * MAX_LENGTH
    assert verify_password(exact, hash_password(exact, CHEAP))


def test_verify_rejects_non_text_password() -> None:
    stored = hash_password(GOOD, CHEAP)
    assert not verify_password(GOOD.encode(), stored)  # type: ignore[arg-type]
    assert not verify_password(None, stored)  # type: ignore[arg-type]


def _parts(stored: str) -> list[str]:
    return stored.split("$")


@pytest.mark.parametrize("edit", [
    lambda p: ["argon2i"] + p[1:],
    lambda p: ["bcrypt"] + p[1:],
    lambda p: p[:1] + ["2"] + p[2:],            # other iterations: other digest
    lambda p: p[:3] + ["72"] + p[4:],           # other memory cost
    lambda p: p[:1] + ["0"] + p[2:],            # out of range
    lambda p: p[:1] + ["21"] + p[2:],
    lambda p: p[:2] + ["0"] + p[3:],
    lambda p: p[:3] + ["7"] + p[4:],
    lambda p: p[:3] + ["lots"] + p[4:],
    lambda p: p[:1] + [""] + p[2:],
    lambda p: p[:4] + ["!!notbase64"] + p[5:],
    lambda p: p[:4] + [b64e(b"short")] + p[5:],  # salt under 8 bytes
    lambda p: p[:4] + [""] + p[5:],
    lambda p: p[:5] + ["***"],
    lambda p: p[:5] + [""],
    lambda p: p[:5] + [b64e(base64.b64decode(p[5])[:-1])],
    lambda p: p[:5] + [b64e(bytes(32))],
    lambda p: p[:5],                            # too few fields
    lambda p: p + ["extra"],                    # too many fields
    lambda p: p[:4] + [p[5], p[4]],             # salt and digest swapped
])
def test_verify_returns_false_for_malformed_or_altered_hashes(edit) -> None:  # type: ignore[no-untyped-def]
    stored = hash_password(GOOD, CHEAP)
    assert not verify_password(GOOD, "$".join(edit(_parts(stored))))


@pytest.mark.parametrize("stored", ["", "$", "$$$$$", "argon2id", "argon2id$$$$$", "plaintext password",
                                    "argon2id$1$1$64$$", "argon2id$1.5$1$64$AAAAAAAAAAA=$AAAA",
                                    "argon2id$inf$1$64$AAAAAAAAAAA=$AAAA",
                                    "argon2id$1$1$64$\udcff$AAAA", "argon2id$1$1$64$ÆØÅÆ$AAAA"])
def test_verify_returns_false_for_garbage(stored: str) -> None:
    assert verify_password(GOOD, stored) is False


@pytest.mark.parametrize("stored", [None, b"", 0, [], {}])
def test_verify_returns_false_for_missing_or_non_text_hash(stored: object) -> None:
    # e.g. a staff row whose password hash is NULL
    assert verify_password(GOOD, stored) is False  # type: ignore[arg-type]
    assert verify_password("", stored) is False  # type: ignore[arg-type]


def test_verify_accepts_surrogates_without_raising() -> None:
    stored = hash_password(GOOD, CHEAP)
    assert verify_password("bad \udcff password", stored) is False


def test_dummy_verify_costs_about_a_real_check() -> None:
    stored = hash_password(GOOD)

    def fastest(run) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    real = fastest(lambda: verify_password(GOOD, stored))
    dummy = fastest(dummy_verify)
    # Same Argon2 work, so same order of magnitude (generous bounds for noisy CI machines).
    assert dummy > real / 5 and real > dummy / 5


_STORED_SHAPED = st.builds(
    lambda kind, t, p, m, salt, digest: "$".join([kind, t, p, m, salt, digest]),
    st.sampled_from(["argon2id", "argon2i", ""]) | st.text(max_size=8),
    st.integers(-2, 3).map(str) | st.text(max_size=3),
    st.integers(-1, 3).map(str) | st.text(max_size=3),
    st.integers(-1, 128).map(str) | st.text(max_size=4),
    st.binary(max_size=20).map(b64e) | st.text(max_size=24),
    st.binary(max_size=40).map(b64e) | st.text(max_size=44),
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | _STORED_SHAPED | st.none(), st.text(max_size=20))
def test_verify_password_never_raises_on_arbitrary_stored_strings(stored: str | None, password: str) -> None:
    assert verify_password(password, stored) in (True, False)


"""Account names, roles and enrolment rules at the store level."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import totp
from node import accounts
from node.accounts import AccountError, check_name
from node.store import connect, migrate, transaction


@pytest.fixture
def conn(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = connect(tmp_path / "s.db", os.urandom(32), create=True)
    migrate(c)
    yield c
    c.close()


def test_names() -> None:
    for good in ("Anna", "Søren Ø. Hansen", "Bo-Erik", "A", "Nattevagt 2"):
        assert check_name(good) == good
    for bad in ("", " ", "<b>", "a" * 65, "-x", "x\ny", 7):
        with pytest.raises(AccountError):
            check_name(bad)


@given(st.text(max_size=80))
def test_check_name_never_raises_anything_else(name: str) -> None:
    try:
        check_name(name)
    except AccountError:
        pass


def test_enrolment_code_expires(conn) -> None:  # type: ignore[no-untyped-def]
    code = transaction(conn, accounts.add, "Anna", "staff", 1000.0)
    with pytest.raises(AccountError, match="expired"):
        transaction(conn, accounts.enrol_start, code, 1000.0 + accounts.ENROL_SECONDS + 1)


def test_unknown_role_and_duplicate_are_refused(conn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AccountError, match="role"):
        transaction(conn, accounts.add, "Anna", "boss", 0.0)
    transaction(conn, accounts.add, "Anna", "staff", 0.0)
    with pytest.raises(AccountError, match="exists"):
        transaction(conn, accounts.add, "ANNA", "staff", 0.0)


def test_enrol_start_repeats_the_same_secret_until_finished(conn) -> None:  # type: ignore[no-untyped-def]
    code = transaction(conn, accounts.add, "Anna", "staff", 0.0)
    _, first = transaction(conn, accounts.enrol_start, code, 1.0)
    _, second = transaction(conn, accounts.enrol_start, code, 2.0)
    assert first == second
    transaction(conn, accounts.enrol_finish, code, "en god lang adgangskode", totp.code_at(first, 3.0), 3.0)
    with pytest.raises(AccountError):
        transaction(conn, accounts.enrol_start, code, 4.0)

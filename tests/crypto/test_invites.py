"""crypto.invites: signed, expiring invite tokens, refused with a reason when altered or stale."""
from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import invites
from crypto.invites import Invite, InviteError

SECRET = bytes(range(32))
NOW = 1_800_000_000.0
ALPHABET = string.ascii_letters + string.digits + "-_."


def make(**kw: object) -> tuple[str, Invite]:
    args: dict[str, object] = {"now": NOW, "ttl": 3600}
    args.update(kw)
    return invites.issue(SECRET, "room-abc_123", **args)  # type: ignore[arg-type]


def refused(token: object, kind: str, now: float = NOW, secret: bytes = SECRET) -> InviteError:
    with pytest.raises(InviteError) as err:
        invites.verify(token, secret, now)  # type: ignore[arg-type]
    assert err.value.kind == kind, err.value.reason
    assert err.value.reason and str(err.value) == err.value.reason
    return err.value


def test_round_trip_guest_and_host() -> None:
    token, issued = make(hint="Mette")
    assert token.startswith("f1.") and len(token) <= invites.MAX_TOKEN
    assert set(token) <= set(ALPHABET)  # safe in a URL and a QR code without escaping
    got = invites.verify(token, SECRET, NOW)
    assert got == issued == Invite("room-abc_123", "guest", int(NOW) + 3600, issued.token_id, "Mette")
    assert invites.verify(token.encode("ascii"), SECRET, NOW) == got
    host, _ = make(role="host")
    assert invites.verify(host, SECRET, NOW).role == "host"
    assert invites.verify(host, SECRET, NOW).hint is None


def test_token_ids_are_random_and_tokens_short() -> None:
    tokens = [make() for _ in range(50)]
    assert len({inv.token_id for _, inv in tokens}) == 50
    assert all(len(base64.urlsafe_b64decode(inv.token_id + "==")) == 16 for _, inv in tokens)
    longest, _ = invites.issue(SECRET, "r" * 64, now=NOW, ttl=60, hint="Ø" * 40)
    assert len(longest) < 300  # fits a QR code a phone camera reads at arm's length


def test_expired_at_the_second_of_expiry() -> None:
    token, inv = make(ttl=600)
    assert invites.verify(token, SECRET, inv.expires - 0.001).room == "room-abc_123"
    err = refused(token, "expired", now=inv.expires)
    assert "expired" in err.reason
    refused(token, "expired", now=inv.expires + 86400)


def test_tampered_payload_and_wrong_secret() -> None:
    token, inv = make()
    version, payload, mac = token.split(".")
    # re-encode the payload with a later expiry: the signature no longer matches
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[1:9] = (inv.expires + 10**6).to_bytes(8, "big")
    forged = f"{version}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}.{mac}"
    refused(forged, "tampered")
    refused(token, "tampered", secret=bytes(32))
    # a host token cannot be made out of a guest one
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[0:1] = b"h"
    refused(f"{version}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}.{mac}", "tampered")


def test_a_correctly_signed_but_unreadable_payload_is_malformed() -> None:
    signed = "f1." + base64.urlsafe_b64encode(b"junk").rstrip(b"=").decode()
    mac = hmac.new(SECRET, b"fristed invite\x00" + signed.encode(), hashlib.sha256).digest()
    refused(signed + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), "malformed")


def test_version_oversize_and_malformed() -> None:
    token, _ = make()
    refused("f2" + token[2:], "version")
    refused("f0" + token[2:], "version")
    refused("x" * 513, "oversize")
    refused(b"x" * 513, "oversize")
    refused(token + "A" * (513 - len(token)), "oversize")
    for bad in ("", ".", "..", "f1..", "f1.abc", token + ".x", token.replace(".", "", 1), "f1.a=.b",
                "hej med dig", "f1.\u00e6.x"):
        refused(bad, "malformed")
    refused(b"\xff\xfe", "malformed")
    refused(None, "malformed")
    refused(12345, "malformed")


def test_non_canonical_base64_is_refused() -> None:
    token, _ = make()
    version, payload, mac = token.split(".")
    # the last character of a 43-character MAC carries 4 bits and 2 unused ones: setting those
    # decodes to the same bytes, but is not the token we issued
    b64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    value = b64.index(mac[-1])
    assert value % 4 == 0
    twin = f"{version}.{payload}.{mac[:-1]}{b64[value + 1]}"
    assert base64.urlsafe_b64decode(twin.split(".")[2] + "=") == base64.urlsafe_b64decode(mac + "=")
    refused(twin, "malformed")


def test_issue_refuses_values_no_token_may_carry() -> None:
    for kw in ({"role": "admin"}, {"ttl": 0}, {"ttl": -5}, {"hint": "x" * 41}, {"hint": "a\nb"},
               {"hint": "\ud800"}):
        with pytest.raises(ValueError):
            make(**kw)
    for room in ("", "r" * 65, "rum med mellemrum", "rød"):
        with pytest.raises(ValueError):
            invites.issue(SECRET, room, now=NOW, ttl=60)
    with pytest.raises(ValueError):
        invites.issue(b"short", "room", now=NOW, ttl=60)
    with pytest.raises(ValueError):
        invites.verify("f1.a.b", b"short", NOW)


def test_new_secret_is_256_bits() -> None:
    assert len(invites.new_secret()) == 32 and invites.new_secret() != invites.new_secret()


def test_qr_is_an_svg_data_uri() -> None:
    token, _ = make()
    uri = invites.invite_qr_svg(f"https://fristed.local:8443/rum#{token}")
    assert uri.startswith("data:image/svg+xml")
    assert "svg" in uri
    for bad in ("", "x" * 1025):
        with pytest.raises(ValueError):
            invites.invite_qr_svg(bad)


# --- properties -------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600) | st.text(alphabet=ALPHABET, max_size=200)
       | st.binary(max_size=600) | st.builds(lambda s: "f1." + s, st.text(alphabet=ALPHABET, max_size=200)))
def test_any_input_gives_an_invite_or_an_invite_error(data: str | bytes) -> None:
    try:
        result = invites.verify(data, SECRET, NOW)
    except InviteError as err:
        assert err.kind in {"oversize", "malformed", "version", "tampered", "expired"}
    else:  # pragma: no cover - forging a signature by chance would be news
        assert isinstance(result, Invite)


_TOKEN, _ = invites.issue(SECRET, "room-abc_123", now=NOW, ttl=3600, hint="Søren")


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(_TOKEN) - 1), st.characters(codec="utf-8") | st.sampled_from(ALPHABET))
def test_any_single_character_change_is_refused(at: int, ch: str) -> None:
    changed = _TOKEN[:at] + ch + _TOKEN[at + 1:]
    if changed == _TOKEN:
        return
    with pytest.raises(InviteError):
        invites.verify(changed, SECRET, NOW)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_TOKEN)), st.sampled_from(ALPHABET))
def test_any_insertion_or_deletion_is_refused(at: int, ch: str) -> None:
    for changed in (_TOKEN[:at] + ch + _TOKEN[at:], _TOKEN[:at] + _TOKEN[at + 1:]):
        if changed != _TOKEN:
            with pytest.raises(InviteError):
                invites.verify(changed, SECRET, NOW)


@settings(max_examples=150, deadline=None)
@given(room=st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64),
       role=st.sampled_from(["guest", "host"]), ttl=st.integers(1, 90 * 86400),
       hint=st.none() | st.text(min_size=1, max_size=40).filter(str.isprintable))
def test_round_trip_for_any_valid_values(room: str, role: str, ttl: int, hint: str | None) -> None:
    token, issued = invites.issue(SECRET, room, now=NOW, ttl=ttl, role=role, hint=hint)
    assert len(token) <= invites.MAX_TOKEN
    assert invites.verify(token, SECRET, NOW) == issued

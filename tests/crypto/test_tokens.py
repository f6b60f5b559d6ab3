"""crypto.tokens: random bearer secrets, their digests and constant-time comparison."""
from __future__ import annotations

import base64
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import tokens


def _decoded_len(token: str) -> int:
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def test_new_token_is_url_safe_and_carries_256_bits() -> None:
    token = tokens.new_token()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert _decoded_len(token) == tokens.TOKEN_BYTES == 32


def test_new_token_respects_requested_size() -> None:
    assert _decoded_len(tokens.new_token(16)) == 16
    assert _decoded_len(tokens.new_token(48)) == 48


def test_new_tokens_do_not_repeat() -> None:
    assert len({tokens.new_token() for _ in range(200)}) == 200


def test_token_digest_is_sha256_hex() -> None:
    token = tokens.new_token()
    digest = tokens.token_digest(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(digest) == 64 and digest == digest.lower()
    assert token not in digest
    assert tokens.token_digest(token) == digest  # deterministic
    assert tokens.token_digest(token + "x") != digest


def test_same_compares_exactly() -> None:
    token = tokens.new_token()
    assert tokens.same(token, str(token))
    assert not tokens.same(token, token[:-1])
    assert not tokens.same(token, token + "A")
    assert not tokens.same(token, "")
    assert tokens.same("", "")
    assert tokens.same("hæfteklamme", "hæfteklamme")
    assert not tokens.same("hæfteklamme", "haefteklamme")


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text())
def test_same_and_digest_never_raise_on_any_text(a: str, b: str) -> None:
    # st.text() includes lone surrogates; "surrogatepass" must keep these from raising.
    assert tokens.same(a, b) == (a == b)
    assert tokens.same(a, a)
    digest = tokens.token_digest(a)
    assert len(digest) == 64
    assert (digest == tokens.token_digest(b)) == (a == b)

"""Enrolment, TOTP login, cookies, lockout, expiry, CSRF and the audit trail, over real HTTPS."""
from __future__ import annotations

import base64

import aiohttp

from crypto import totp
from node import accounts, audit
from node.clock import ManualClock
from node.server import RunningNode
from tests.conftest import PASSWORD, Staff, enrol, login


async def test_enrolment_over_http_then_login(node: RunningNode, http: aiohttp.ClientSession,
                                              clock: ManualClock) -> None:
    code = await node.ctx.store.write(accounts.add, "Bo", "volunteer", clock.now())
    async with http.post("/api/enrol/start", json={"code": code}) as resp:
        assert resp.status == 200
        start = await resp.json()
    assert start["name"] == "Bo" and start["qr"].startswith("data:image/svg+xml")
    assert start["otpauth"].startswith("otpauth://totp/")
    secret = base64.b32decode(start["secret"] + "=" * (-len(start["secret"]) % 8))
    # a weak password is refused with a reason, and nothing changes
    async with http.post("/api/enrol/finish", json={"code": code, "password": "password1234",
                                                    "totp": totp.code_at(secret, clock.now())}) as resp:
        assert resp.status == 400
        assert "common" in (await resp.json())["reason"]
    async with http.post("/api/enrol/finish", json={"code": code, "password": PASSWORD,
                                                    "totp": "000000"}) as resp:
        assert resp.status == 400
    async with http.post("/api/enrol/finish", json={"code": code, "password": PASSWORD,
                                                    "totp": totp.code_at(secret, clock.now())}) as resp:
        assert resp.status == 200
        assert (await resp.json())["account"]["state"] == "active"
    # the code is spent
    async with http.post("/api/enrol/start", json={"code": code}) as resp:
        assert resp.status == 400
    clock.advance(30)
    data = await login(http, Staff("Bo", PASSWORD, secret, clock))
    assert data["account"]["role"] == "volunteer"  # type: ignore[index]


async def test_login_sets_strict_cookie_and_long_token(node: RunningNode, http: aiohttp.ClientSession,
                                                       clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 200
        body = await resp.json()
        cookie_header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "Secure" in cookie_header and "SameSite=Strict" in cookie_header
    assert len(base64.urlsafe_b64decode(body["token"] + "==")) * 8 >= 128
    assert "fristed_session=" + body["token"] in cookie_header
    clock.advance(30)
    # a second login rotates: a new token, and both are independent sessions
    second = await login(http, staff)
    assert second["token"] != body["token"]


async def test_bearer_token_for_console_and_logout_ends_it(node: RunningNode, http: aiohttp.ClientSession,
                                                           clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    data = await login(http, staff)
    http.cookie_jar.clear()
    headers = {"Authorization": f"Bearer {data['token']}"}
    async with http.get("/api/me", headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["account"]["name"] == "Anna"
    async with http.post("/api/logout", headers=headers, json={}) as resp:
        assert resp.status == 200
    async with http.get("/api/me", headers=headers) as resp:
        assert resp.status == 401


async def test_totp_code_cannot_be_replayed(node: RunningNode, http: aiohttp.ClientSession,
                                            clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    body = staff.login_body()
    async with http.post("/api/login", json=body) as resp:
        assert resp.status == 200
    async with http.post("/api/login", json=body) as resp:
        assert resp.status == 401


async def test_lockout_after_repeated_failures_even_with_right_password(
        node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    for _ in range(5):
        async with http.post("/api/login", json={**staff.login_body(), "password": "wrong wrong wrong"}) as resp:
            assert resp.status == 401
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"] == "locked"
    clock.advance(31)
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 200
    rows = await node.ctx.store.read(audit.entries_for, "Anna")
    assert [e.action for e in rows].count("login_failed") == 5


async def test_lockout_is_per_source_too(node: RunningNode, http: aiohttp.ClientSession,
                                         clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    for i in range(5):  # guessing across many names from one source
        async with http.post("/api/login", json={"name": f"nobody{i}", "password": "x" * 12,
                                                 "totp": "123456"}) as resp:
            assert resp.status == 401
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 429


async def test_idle_and_absolute_expiry(node: RunningNode, http: aiohttp.ClientSession,
                                        clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    policy = node.ctx.auth.policy
    data = await login(http, staff)
    headers = {"Authorization": f"Bearer {data['token']}"}
    clock.advance(policy.idle_seconds + 1)
    async with http.get("/api/me", headers=headers) as resp:
        assert resp.status == 401
    # staying active does not outlive the absolute limit
    data = await login(http, staff)
    headers = {"Authorization": f"Bearer {data['token']}"}
    elapsed = 30.0
    while elapsed < policy.absolute_seconds - 600:
        clock.advance(600)
        elapsed += 600
        async with http.get("/api/me", headers=headers) as resp:
            assert resp.status == 200
    clock.advance(policy.absolute_seconds - elapsed + 1)
    async with http.get("/api/me", headers=headers) as resp:
        assert resp.status == 401


async def test_cookie_session_needs_csrf_token_for_changes(node: RunningNode, http: aiohttp.ClientSession,
                                                           clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    data = await login(http, staff)
    async with http.post("/api/logout", json={}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"] == "csrf"
    async with http.get("/api/me") as resp:
        assert resp.status == 200  # still logged in: the refused request changed nothing
    async with http.post("/api/logout", json={}, headers={"X-CSRF-Token": str(data["csrf"])}) as resp:
        assert resp.status == 200
    async with http.get("/api/me") as resp:
        assert resp.status == 401


async def test_cross_origin_post_is_refused(node: RunningNode, http: aiohttp.ClientSession,
                                            clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    async with http.post("/api/login", json=staff.login_body(),
                         headers={"Origin": "https://evil.example"}) as resp:
        assert resp.status == 403
    async with http.post("/api/login", json=staff.login_body(),
                         headers={"Origin": f"https://localhost:{node.port}"}) as resp:
        assert resp.status == 200


async def test_bad_bodies_get_clear_errors(http: aiohttp.ClientSession) -> None:
    async with http.post("/api/login", data=b"{not json", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "bad_json"
    async with http.post("/api/login", data=b"name=a", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "bad_content_type"
    async with http.post("/api/login", json={"name": 5, "password": "x", "totp": "1"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "bad_field"
    async with http.post("/api/login", data=b"x" * 200_000, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413


async def test_audit_records_login_logout_and_failures(node: RunningNode, http: aiohttp.ClientSession,
                                                       clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    async with http.post("/api/login", json={**staff.login_body(), "totp": "999999"}) as resp:
        assert resp.status == 401
    data = await login(http, staff)
    async with http.post("/api/logout", json={}, headers={"X-CSRF-Token": str(data["csrf"])}) as resp:
        assert resp.status == 200
    async with http.post("/api/login", json={"name": "typo-or-password?", "password": "x" * 12,
                                             "totp": "123456"}) as resp:
        assert resp.status == 401
    actions = [e.action for e in await node.ctx.store.read(audit.entries_for, "Anna")]
    assert actions[-3:] == ["login_failed", "login", "logout"]
    unknown = await node.ctx.store.read(audit.entries_for, "unknown")
    assert unknown and all(e.subject is None for e in unknown)
    everything = await node.ctx.store.read(lambda c: c.execute("SELECT * FROM audit").fetchall())
    assert "typo-or-password?" not in repr(everything)


async def test_disabled_account_is_logged_out_at_once(node: RunningNode, http: aiohttp.ClientSession,
                                                      clock: ManualClock) -> None:
    staff = await enrol(node, clock)
    data = await login(http, staff)
    await node.ctx.store.write(accounts.disable, "Anna", clock.now())
    async with http.get("/api/me", headers={"Authorization": f"Bearer {data['token']}"}) as resp:
        assert resp.status == 401
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 401

"""crypto.ca: the node-local certificate authority and the node's server certificate.

The TLS tests run a real handshake on 127.0.0.1 with the standard library's ``ssl``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import re
import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from crypto import ca
from crypto.ca import (TLSFiles, certificate_days_left, ensure_local_tls, external_tls, fingerprint,
                       fingerprint_der)

HOSTS = ["localhost", "fristed-pi", "fristed-pi.local"]
ADDRS = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
         ipaddress.ip_address("192.168.1.20")]
FINGERPRINT = re.compile(r"\A[0-9A-F]{2}(:[0-9A-F]{2}){31}\Z")


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    return ensure_local_tls(tmp_path / "tls", "testnode", HOSTS, ADDRS)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _leaf(files: TLSFiles) -> x509.Certificate:
    return _certs(files.cert)[0]


def _ca(files: TLSFiles) -> x509.Certificate:
    assert files.ca_cert is not None
    return x509.load_pem_x509_certificate(files.ca_cert.read_bytes())


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _sans(cert: x509.Certificate) -> tuple[list[str], list[object]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress)


# ---------------------------------------------------------------- files and certificates


def test_creates_ca_and_leaf_files(tmp_path: Path, tls: TLSFiles) -> None:
    directory = tmp_path / "tls"
    assert tls.cert == directory / "server.crt" and tls.key == directory / "server.key"
    assert tls.ca_cert == directory / "ca.crt"
    assert sorted(p.name for p in directory.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]
    assert _mode(directory) == 0o700


def test_private_keys_are_0600_and_certificates_0644(tmp_path: Path, tls: TLSFiles) -> None:
    directory = tmp_path / "tls"
    assert _mode(directory / "ca.key") == 0o600
    assert _mode(directory / "server.key") == 0o600
    assert _mode(directory / "ca.crt") == 0o644
    assert _mode(directory / "server.crt") == 0o644
    for name in ("ca.key", "server.key"):
        key = serialization.load_pem_private_key((directory / name).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert b"ENCRYPTED" not in (directory / name).read_bytes()


def test_key_files_stay_0600_after_reissue(tmp_path: Path, tls: TLSFiles) -> None:
    ensure_local_tls(tmp_path / "tls", "testnode", HOSTS + ["other"], ADDRS)
    assert _mode(tmp_path / "tls" / "server.key") == 0o600
    assert _mode(tmp_path / "tls" / "ca.key") == 0o600


def test_leaf_has_the_requested_sans(tls: TLSFiles) -> None:
    leaf = _leaf(tls)
    dns, ips = _sans(leaf)
    assert sorted(dns) == sorted(HOSTS)
    assert sorted(ips, key=str) == sorted(ADDRS, key=str)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ExtendedKeyUsageOID.SERVER_AUTH in leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= dt.timedelta(days=ca.LEAF_DAYS, minutes=5)
    assert leaf.not_valid_before_utc <= dt.datetime.now(dt.timezone.utc)


def test_ca_certificate(tls: TLSFiles) -> None:
    cert = _ca(tls)
    assert cert.subject == cert.issuer
    assert "testnode" in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    cert.verify_directly_issued_by(cert)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= dt.timedelta(days=ca.CA_DAYS)


def test_leaf_is_issued_by_the_ca_and_chain_is_served(tls: TLSFiles) -> None:
    chain = _certs(tls.cert)
    assert len(chain) == 2
    leaf, served_ca = chain
    assert served_ca == _ca(tls)
    leaf.verify_directly_issued_by(_ca(tls))
    key = serialization.load_pem_private_key(tls.key.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()


@pytest.mark.parametrize("name", [x509.DNSName("localhost"), x509.DNSName("fristed-pi.local"),
                                  x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                  x509.IPAddress(ipaddress.ip_address("::1"))])
def test_leaf_passes_webpki_path_validation(tls: TLSFiles, name: object) -> None:
    # cryptography's verifier applies the CA/Browser-Forum profile browsers use.
    verifier = PolicyBuilder().store(Store([_ca(tls)])).build_server_verifier(name)  # type: ignore[arg-type]
    chain = verifier.verify(_leaf(tls), [])
    assert chain[-1] == _ca(tls)


def test_webpki_refuses_names_not_in_the_leaf(tls: TLSFiles) -> None:
    for name in (x509.DNSName("evil.example"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))):
        verifier = PolicyBuilder().store(Store([_ca(tls)])).build_server_verifier(name)
        with pytest.raises(VerificationError):
            verifier.verify(_leaf(tls), [])


def test_fingerprint_format_and_value(tls: TLSFiles) -> None:
    assert FINGERPRINT.match(tls.fingerprint)
    assert len(tls.fingerprint.split(":")) == 32
    assert tls.ca_cert is not None
    der = ssl.PEM_cert_to_DER_cert(tls.ca_cert.read_text())
    assert tls.fingerprint == fingerprint_der(der) == fingerprint(_ca(tls))
    assert tls.fingerprint.replace(":", "").lower() == hashlib.sha256(der).hexdigest()
    leaf = _leaf(tls)
    assert fingerprint(leaf) == fingerprint_der(leaf.public_bytes(serialization.Encoding.DER))
    assert fingerprint(leaf) != tls.fingerprint


def test_long_names_are_truncated_in_subjects_only(tmp_path: Path) -> None:
    long_host = "a" * 63 + ".local"
    files = ensure_local_tls(tmp_path, "n" * 200, [long_host], [])
    leaf = _leaf(files)
    assert _sans(leaf) == ([long_host], [])
    assert len(leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) == 64
    assert len(_ca(files).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value) == 64


def test_leaf_never_outlives_its_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ca, "CA_DAYS", 100)
    files = ensure_local_tls(tmp_path, "short", ["localhost"], [])
    assert _leaf(files).not_valid_after_utc == _ca(files).not_valid_after_utc


# ---------------------------------------------------------------- reuse and reissue


def test_second_call_reuses_everything_when_names_are_unchanged(tmp_path: Path, tls: TLSFiles) -> None:
    directory = tmp_path / "tls"
    before = _snapshot(directory)
    again = ensure_local_tls(directory, "testnode", list(reversed(HOSTS)) + ["localhost"],
                             list(reversed(ADDRS)))
    assert _snapshot(directory) == before
    assert again == tls


def test_reissues_leaf_when_a_hostname_is_added(tmp_path: Path, tls: TLSFiles) -> None:
    directory = tmp_path / "tls"
    before = _snapshot(directory)
    again = ensure_local_tls(directory, "testnode", HOSTS + ["fristed-2.local"], ADDRS)
    after = _snapshot(directory)
    assert after["ca.crt"] == before["ca.crt"] and after["ca.key"] == before["ca.key"]
    assert after["server.crt"] != before["server.crt"] and after["server.key"] != before["server.key"]
    assert again.fingerprint == tls.fingerprint
    assert sorted(_sans(_leaf(again))[0]) == sorted(HOSTS + ["fristed-2.local"])
    _leaf(again).verify_directly_issued_by(_ca(again))


@pytest.mark.parametrize("hosts,addrs", [
    (HOSTS[:1], ADDRS),                                     # hostname removed
    (HOSTS, ADDRS[:2]),                                      # address removed
    (HOSTS, ADDRS + [ipaddress.ip_address("10.0.0.7")]),     # address added (new DHCP lease)
    (HOSTS, []),
])
def test_reissues_leaf_when_names_change(tmp_path: Path, tls: TLSFiles, hosts: list[str],
                                         addrs: list) -> None:
    directory = tmp_path / "tls"
    old_leaf = _leaf(tls)
    again = ensure_local_tls(directory, "testnode", hosts, addrs)
    new_leaf = _leaf(again)
    assert new_leaf.serial_number != old_leaf.serial_number
    dns, ips = _sans(new_leaf)
    assert set(dns) == set(hosts) and set(ips) == set(addrs)
    assert again.fingerprint == tls.fingerprint
    # and a third call with the same names reuses the new leaf
    before = _snapshot(directory)
    ensure_local_tls(directory, "testnode", hosts, addrs)
    assert _snapshot(directory) == before


def test_reissues_leaf_near_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(ca, "LEAF_DAYS", ca.RENEW_BEFORE_DAYS - 1)
        first = ensure_local_tls(tmp_path, "node", ["localhost"], [])
    assert certificate_days_left(first.cert) < ca.RENEW_BEFORE_DAYS
    old_serial = _leaf(first).serial_number
    second = ensure_local_tls(tmp_path, "node", ["localhost"], [])
    assert _leaf(second).serial_number != old_serial
    assert certificate_days_left(second.cert) > ca.LEAF_DAYS - 1
    assert second.fingerprint == first.fingerprint


def test_reissues_leaf_when_server_key_is_missing(tmp_path: Path, tls: TLSFiles) -> None:
    old_serial = _leaf(tls).serial_number
    tls.key.unlink()
    again = ensure_local_tls(tmp_path / "tls", "testnode", HOSTS, ADDRS)
    assert _leaf(again).serial_number != old_serial
    key = serialization.load_pem_private_key(again.key.read_bytes(), password=None)
    assert key.public_key() == _leaf(again).public_key()


def test_reissues_leaf_issued_by_another_named_ca(tmp_path: Path) -> None:
    a = ensure_local_tls(tmp_path / "a", "node-a", ["localhost"], [])
    b = ensure_local_tls(tmp_path / "b", "node-b", ["localhost"], [])
    shutil.copy(a.cert, b.cert)
    shutil.copy(a.key, b.key)
    again = ensure_local_tls(tmp_path / "b", "node-b", ["localhost"], [])
    _leaf(again).verify_directly_issued_by(_ca(b))
    assert again.fingerprint == b.fingerprint


@pytest.mark.parametrize("lost", [["ca.crt"], ["ca.key"], ["ca.crt", "ca.key"]])
def test_leaf_is_reissued_when_the_ca_is_regenerated(tmp_path: Path, lost: list[str]) -> None:
    directory = tmp_path / "tls"
    first = ensure_local_tls(directory, "testnode", HOSTS, ADDRS)
    old_serial = _leaf(first).serial_number
    for name in lost:  # e.g. lost in a partial restore: a new CA is created under the same name
        (directory / name).unlink()
    second = ensure_local_tls(directory, "testnode", HOSTS, ADDRS)
    assert second.fingerprint != first.fingerprint
    assert _ca(second).subject == _ca(first).subject  # same issuer name, different key
    assert _leaf(second).serial_number != old_serial
    _leaf(second).verify_directly_issued_by(_ca(second))
    chain = _certs(second.cert)
    assert len(chain) == 2 and chain[1] == _ca(second)
    # and the next call keeps the reissued leaf
    before = _snapshot(directory)
    ensure_local_tls(directory, "testnode", HOSTS, ADDRS)
    assert _snapshot(directory) == before


def test_reissues_leaf_issued_by_another_ca_of_the_same_name(tmp_path: Path) -> None:
    a = ensure_local_tls(tmp_path / "a", "testnode", HOSTS, ADDRS)
    b = ensure_local_tls(tmp_path / "b", "testnode", HOSTS, ADDRS)
    assert _ca(a).subject == _ca(b).subject and a.fingerprint != b.fingerprint
    shutil.copy(a.cert, b.cert)
    shutil.copy(a.key, b.key)
    again = ensure_local_tls(tmp_path / "b", "testnode", HOSTS, ADDRS)
    assert _leaf(again).serial_number != _leaf(a).serial_number
    _leaf(again).verify_directly_issued_by(_ca(b))
    assert again.fingerprint == b.fingerprint


def test_stale_tmp_files_are_replaced_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    directory.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    victim.chmod(0o644)
    (directory / "ca.key.tmp").symlink_to(victim)
    (directory / "server.key.tmp").write_bytes(b"left over from a crash")
    (directory / "server.key.tmp").chmod(0o644)
    files = ensure_local_tls(directory, "testnode", HOSTS, ADDRS)
    assert victim.read_bytes() == b"do not touch" and _mode(victim) == 0o644
    assert sorted(p.name for p in directory.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]
    for name in ("ca.key", "server.key"):
        assert not (directory / name).is_symlink() and _mode(directory / name) == 0o600
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert key.public_key() == _leaf(files).public_key()


# ---------------------------------------------------------------- real TLS handshakes


async def _handshake(files: TLSFiles, client: ssl.SSLContext, server_hostname: str) -> bytes:
    """Serve ``files`` on 127.0.0.1 and connect with ``client``; return the peer's DER leaf."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert, files.key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"hej\n")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=server_hostname), 10)
        try:
            assert await asyncio.wait_for(reader.readline(), 10) == b"hej\n"
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
        return der
    finally:
        server.close()
        await server.wait_closed()


def _trusting_only(ca_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.load_verify_locations(cafile=ca_file)
    assert ctx.get_ca_certs() and len(ctx.get_ca_certs()) == 1
    return ctx


async def test_tls_handshake_trusting_only_the_local_ca(tls: TLSFiles) -> None:
    assert tls.ca_cert is not None
    der = await _handshake(tls, _trusting_only(tls.ca_cert), "localhost")
    assert der == _leaf(tls).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("server_hostname", ["fristed-pi.local", "127.0.0.1"])
async def test_tls_handshake_by_other_names(tls: TLSFiles, server_hostname: str) -> None:
    assert tls.ca_cert is not None
    await _handshake(tls, _trusting_only(tls.ca_cert), server_hostname)


async def test_tls_handshake_with_default_context_and_cafile(tls: TLSFiles) -> None:
    # what a Python client (the console) would build: default settings, our CA only
    assert tls.ca_cert is not None
    await _handshake(tls, ssl.create_default_context(cafile=str(tls.ca_cert)), "localhost")


async def test_tls_handshake_fails_for_a_name_not_in_the_certificate(tls: TLSFiles) -> None:
    assert tls.ca_cert is not None
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        await _handshake(tls, _trusting_only(tls.ca_cert), "evil.example")


async def test_tls_handshake_fails_with_system_trust_store(tls: TLSFiles) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(tls, ssl.create_default_context(), "localhost")


async def test_tls_handshake_fails_against_another_nodes_ca(tmp_path: Path, tls: TLSFiles) -> None:
    other = ensure_local_tls(tmp_path / "other", "othernode", HOSTS, ADDRS)
    assert other.ca_cert is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(tls, _trusting_only(other.ca_cert), "localhost")


async def test_tls_handshake_after_the_ca_is_regenerated(tmp_path: Path, tls: TLSFiles) -> None:
    (tmp_path / "tls" / "ca.crt").unlink()
    again = ensure_local_tls(tmp_path / "tls", "testnode", HOSTS, ADDRS)
    assert again.ca_cert is not None and again.fingerprint != tls.fingerprint
    await _handshake(again, _trusting_only(again.ca_cert), "localhost")


async def test_tls_handshake_after_reissue(tmp_path: Path, tls: TLSFiles) -> None:
    again = ensure_local_tls(tmp_path / "tls", "testnode", ["fristed-2.local"], [])
    assert again.ca_cert is not None
    await _handshake(again, _trusting_only(again.ca_cert), "fristed-2.local")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(again, _trusting_only(again.ca_cert), "localhost")


# ---------------------------------------------------------------- external certificates


def test_external_tls_pins_the_leaf(tmp_path: Path, tls: TLSFiles) -> None:
    external = external_tls(tls.cert, tls.key)
    assert external.ca_cert is None
    assert (external.cert, external.key) == (tls.cert, tls.key)
    assert external.fingerprint == fingerprint(_leaf(tls))
    assert FINGERPRINT.match(external.fingerprint)


def test_certificate_days_left(tls: TLSFiles) -> None:
    assert ca.LEAF_DAYS - 1 < certificate_days_left(tls.cert) <= ca.LEAF_DAYS
    assert tls.ca_cert is not None
    assert certificate_days_left(tls.ca_cert) > ca.CA_DAYS - 1


async def test_ca_is_name_constrained_to_this_node(tmp_path: Path) -> None:
    """A stolen CA key cannot vouch for outside sites: TLS clients enforce the name constraints."""
    files = ensure_local_tls(tmp_path / "tls", "n", ["vm", "vm.local", "localhost", "bank.example"],
                             [ipaddress.ip_address("127.0.0.1")])
    assert _sans(_leaf(files))[0] == ["vm", "vm.local", "localhost"]
    constraints = _ca(files).extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    # sign a leaf for an outside name with the CA key, as a thief would; a client refuses it
    from cryptography.hazmat.primitives import serialization
    ca_key = serialization.load_pem_private_key((tmp_path / "tls" / "ca.key").read_bytes(), None)
    forged_key, forged = ca._issue_leaf(ca_key, _ca(files), ["bank.example"], [])  # type: ignore[arg-type]
    (tmp_path / "tls" / "server.crt").write_bytes(forged.public_bytes(serialization.Encoding.PEM)
                                                 + _ca(files).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls" / "server.key").write_bytes(ca._key_pem(forged_key))
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(files, _trusting_only(files.ca_cert), "bank.example")

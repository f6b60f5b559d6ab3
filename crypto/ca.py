"""The node-local certificate authority and the node's server certificate."""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 397  # the longest lifetime browsers accept for a server certificate
RENEW_BEFORE_DAYS = 30

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files the server loads, and the fingerprint to pin."""

    cert: Path
    key: Path
    ca_cert: Path | None
    fingerprint: str  # SHA-256 of the CA certificate (or of the leaf for external certificates)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated upper-case hex, as browsers show it."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def fingerprint_der(der: bytes) -> str:
    """SHA-256 fingerprint of a DER certificate."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


PRIVATE_NETWORKS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
    "192.0.2.0/24", "fc00::/7", "fe80::/10", "::1/128")]


def permitted_names(hostnames: list[str], addresses: list[IPAddress]) -> x509.NameConstraints:
    """What the local CA may vouch for: this machine's names, ``.local`` and ``localhost``, private
    networks and the machine's own addresses. A stolen CA key cannot mint certificates for other sites."""
    dns = list(dict.fromkeys([h for h in hostnames if "." not in h] + ["local", "localhost"]))
    nets = list(PRIVATE_NETWORKS)
    nets += [ipaddress.ip_network(a) for a in addresses if not any(a in n for n in nets)]
    return x509.NameConstraints(permitted_subtrees=[x509.DNSName(d) for d in dns]
                                + [x509.IPAddress(n) for n in nets], excluded_subtrees=None)


def _allowed(cert: x509.Certificate, hostnames: list[str], addresses: list[IPAddress]
             ) -> tuple[list[str], list[IPAddress]]:
    """The names and addresses inside the CA's constraints (all of them for an unconstrained CA)."""
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return hostnames, addresses
    dns = [g.value for g in nc.permitted_subtrees or [] if isinstance(g, x509.DNSName)]
    nets = [g.value for g in nc.permitted_subtrees or [] if isinstance(g, x509.IPAddress)]
    names = [h for h in hostnames if any(h == d or h.endswith("." + d) for d in dns)]
    return names, [a for a in addresses if any(a in n for n in nets)]


def _create_ca(node_name: str, hostnames: list[str],
               addresses: list[IPAddress]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fristed"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"fristed local CA ({node_name})"[:64])])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(permitted_names(hostnames, addresses), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _sans(cert: x509.Certificate) -> tuple[set[str], set[IPAddress]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), set(ext.get_values_for_type(x509.IPAddress))


def _issue_leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hostnames: list[str],
                addresses: list[IPAddress]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(a) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def ensure_local_tls(directory: Path, node_name: str, hostnames: list[str],
                     addresses: list[IPAddress]) -> TLSFiles:
    """Create the CA on first start; (re)issue the server certificate when names change or it nears expiry."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key_path, ca_cert_path = directory / "ca.key", directory / "ca.crt"
    key_path, cert_path = directory / "server.key", directory / "server.crt"
    if ca_key_path.exists() and ca_cert_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    else:
        ca_key, ca_cert = _create_ca(node_name, hostnames, addresses)
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_public(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    hostnames, addresses = _allowed(ca_cert, hostnames, addresses)
    hostnames = hostnames or ["localhost"]
    need_leaf = True
    if key_path.exists() and cert_path.exists():
        leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
        dns, ips = _sans(leaf)
        fresh = leaf.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_BEFORE_DAYS)
        try:
            leaf.verify_directly_issued_by(ca_cert)
            same_issuer = True
        except (ValueError, TypeError, InvalidSignature):
            same_issuer = False
        need_leaf = not (fresh and same_issuer and dns == set(hostnames) and ips == set(addresses))
    if need_leaf:
        leaf_key, leaf = _issue_leaf(ca_key, ca_cert, hostnames, addresses)
        _write_private(key_path, _key_pem(leaf_key))
        _write_public(cert_path, leaf.public_bytes(serialization.Encoding.PEM)
                      + ca_cert.public_bytes(serialization.Encoding.PEM))
    return TLSFiles(cert_path, key_path, ca_cert_path, fingerprint(ca_cert))


def external_tls(cert: Path, key: Path) -> TLSFiles:
    """Describe a certificate from elsewhere (certbot); the pinned fingerprint is the leaf's."""
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    return TLSFiles(cert, key, None, fingerprint(leaf))


def certificate_days_left(cert: Path) -> float:
    """Days until the first certificate in a PEM file expires."""
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    return (leaf.not_valid_after_utc - _now()).total_seconds() / 86400

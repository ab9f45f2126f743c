"""Make and inspect self-signed X.509 application certificates for OPC UA (DER cert, PEM key)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cosim.errors import BridgeError


def generate_certificate(
    cert_path: str | Path,
    key_path: str | Path,
    *,
    application_uri: str,
    common_name: str = "cosim",
    hostnames: Sequence[str] | None = None,
    days: int = 3650,
    key_size: int = 2048,
    overwrite: bool = False,
    not_before: _dt.datetime | None = None,
) -> tuple[Path, Path]:
    """Write a self-signed OPC UA application instance certificate and its private key.

    The certificate (DER) carries what OPC UA Part 6 asks of an application instance
    certificate: the application URI as a URI in subjectAltName (peers compare it with the
    ApplicationUri of the session), the host names / IP addresses as DNS / IP entries, key
    usage digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment and keyCertSign
    (self-signed), and extended key usage serverAuth + clientAuth so the same file works for
    a client and a server. The key (PEM, PKCS#8, unencrypted, mode 0600) is RSA `key_size`
    bits; Basic256Sha256 accepts 2048..4096.

    `hostnames` defaults to localhost, 127.0.0.1 and this machine's host name. The certificate
    is valid for `days` from `not_before` (default: now, less 5 minutes for clock differences;
    an earlier date makes an expired certificate, for tests). Existing files are kept unless
    `overwrite` is true. Returns (cert_path, key_path).
    """
    cert_path, key_path = Path(cert_path), Path(key_path)
    if not overwrite and (cert_path.exists() or key_path.exists()):
        existing = cert_path if cert_path.exists() else key_path
        raise FileExistsError(f"{existing} exists; pass overwrite=True to replace it")
    if not 2048 <= key_size <= 4096:
        raise ValueError(f"key_size must be 2048..4096 bits for Basic256Sha256, got {key_size}")
    if hostnames is None:
        hostnames = ["localhost", "127.0.0.1", socket.gethostname()]
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cosim"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for host in dict.fromkeys(hostnames):  # keep order, drop duplicates
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    start = not_before or _dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return cert_path, key_path


def load_certificate(path: str | Path) -> x509.Certificate:
    """A certificate from a DER or PEM file; BridgeError naming the file if it is neither."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BridgeError(f"cannot read certificate {path}: {exc.strerror or exc}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise BridgeError(f"{path} is not an X.509 certificate (DER or PEM): {exc}") from None


def certificate_der(path: str | Path) -> bytes:
    """The DER bytes of a DER or PEM certificate file (what OPC UA puts on the wire)."""
    return load_certificate(path).public_bytes(serialization.Encoding.DER)


def key_format(path: str | Path) -> str:
    """'pem' or 'der': how a private-key file is encoded (by content, not by name)."""
    try:
        head = Path(path).read_bytes()[:64]
    except OSError as exc:
        raise BridgeError(f"cannot read private key {path}: {exc.strerror or exc}") from None
    return "pem" if head.lstrip().startswith(b"-----BEGIN") else "der"


def application_uri(cert: x509.Certificate | str | Path) -> str | None:
    """The first URI in the certificate's subjectAltName (its OPC UA application URI), if any."""
    if not isinstance(cert, x509.Certificate):
        cert = load_certificate(cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def validity_problem(cert: x509.Certificate) -> str | None:
    """'expired on DATE' / 'not valid before DATE' if now is outside the certificate's
    validity period, else None."""
    now = _dt.datetime.now(_dt.UTC)
    if now > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if now < cert.not_valid_before_utc:
        return f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    return None


def thumbprint(der: bytes) -> str:
    """SHA-1 thumbprint of a DER certificate, as OPC UA tools show it (hex, upper case)."""
    return hashlib.sha1(der).hexdigest().upper()


__all__ = [
    "application_uri",
    "certificate_der",
    "generate_certificate",
    "key_format",
    "load_certificate",
    "thumbprint",
    "validity_problem",
]

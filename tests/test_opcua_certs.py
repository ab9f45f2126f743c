"""Self-signed OPC UA application certificates: the extensions peers check, read back with
`cryptography` directly (not through cosim.opcua.certs)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import ExtendedKeyUsageOID

from cosim.opcua.certs import application_uri, certificate_der, generate_certificate, thumbprint


def test_certificate_has_the_opc_ua_application_instance_extensions(tmp_path: Path) -> None:
    cert_path, key_path = generate_certificate(
        tmp_path / "twin.der",
        tmp_path / "twin.pem",
        application_uri="urn:cosim:test:twin",
        hostnames=["localhost", "127.0.0.1"],
    )
    cert = x509.load_der_x509_certificate(cert_path.read_bytes())  # DER on disk
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:cosim:test:twin"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert usage.key_encipherment and usage.data_encipherment and usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.issuer == cert.subject  # self-signed
    assert cert.signature_hash_algorithm.name == "sha256"

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)  # PEM
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    # the key belongs to the certificate: a signature made with it verifies with the cert
    signature = key.sign(b"nonce", padding.PKCS1v15(), SHA256())
    cert.public_key().verify(signature, b"nonce", padding.PKCS1v15(), SHA256())
    cert.public_key().verify(
        cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), SHA256()
    )
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_helpers_read_back_uri_der_and_thumbprint(tmp_path: Path) -> None:
    cert_path, _ = generate_certificate(
        tmp_path / "c.der", tmp_path / "k.pem", application_uri="urn:x:y"
    )
    assert application_uri(cert_path) == "urn:x:y"
    der = cert_path.read_bytes()
    assert certificate_der(cert_path) == der
    pem = tmp_path / "c.crt"
    pem.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    assert certificate_der(pem) == der  # PEM files work too
    assert thumbprint(der) == hashlib.sha1(der).hexdigest().upper()


def test_existing_files_are_not_overwritten_unless_asked(tmp_path: Path) -> None:
    generate_certificate(tmp_path / "c.der", tmp_path / "k.pem", application_uri="urn:a")
    first = (tmp_path / "c.der").read_bytes()
    with pytest.raises(FileExistsError):
        generate_certificate(tmp_path / "c.der", tmp_path / "k.pem", application_uri="urn:b")
    assert (tmp_path / "c.der").read_bytes() == first
    generate_certificate(
        tmp_path / "c.der", tmp_path / "k.pem", application_uri="urn:b", overwrite=True
    )
    assert application_uri(tmp_path / "c.der") == "urn:b"

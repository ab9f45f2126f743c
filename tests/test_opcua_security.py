"""Secure endpoints: Basic256Sha256 Sign / SignAndEncrypt, certificate trust both ways, and
username/password from an environment variable. Certificates are generated per test session.

    twin (twin.der/pem) --Basic256Sha256--> plant server (plant.der/pem)
      pins plant.der                          trusts only twin.der, user "twin"
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from live_helpers import free_port

from cosim.errors import BridgeError
from cosim.model.spec import VarRef
from cosim.opcua import InputBridge, OpcuaSpec, SecuritySpec, ValueServer, generate_certificate
from cosim.opcua.config import InputSpec

PASSWORD_ENV = "COSIM_TEST_OPCUA_PASSWORD"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("opcua_certs")
    for name in ("plant", "twin", "rogue"):
        generate_certificate(
            base / f"{name}.der", base / f"{name}.pem", application_uri=f"urn:cosim:test:{name}"
        )
    return base


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


@pytest.fixture(scope="module", params=["Sign", "SignAndEncrypt"])
def secure_plant(request: pytest.FixtureRequest, certs: Path) -> Iterator[ValueServer]:
    security = SecuritySpec(
        mode=request.param,
        certificate=certs / "plant.der",
        private_key=certs / "plant.pem",
        trusted_clients=(certs / "twin.der",),
        username="twin",
        password_env=PASSWORD_ENV,
    )
    mp = pytest.MonkeyPatch()  # the server reads its password once, at start
    mp.setenv(PASSWORD_ENV, PASSWORD)
    try:
        with ValueServer(
            f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], security=security, name="plant"
        ) as server:
            server.publish(np.array([3.25]))
            yield server
    finally:
        mp.undo()


def twin_spec(server: ValueServer, certs: Path, **security) -> OpcuaSpec:
    assert server.security is not None
    sec = SecuritySpec(
        mode=server.security.mode,
        certificate=certs / "twin.der",
        private_key=certs / "twin.pem",
        server_certificate=certs / "plant.der",
        username="twin",
        password_env=PASSWORD_ENV,
    )
    return OpcuaSpec(
        endpoint=server.endpoint,
        security=replace(sec, **security),
        inputs=(InputSpec(server.node_ids[0], VarRef("m", "x")),),
        connect_timeout=5.0,
    )


def refused(spec: OpcuaSpec) -> str:
    """Start a bridge that must fail at once (not after connect_timeout); the error text."""
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as info:
        InputBridge(spec).start()
    assert time.monotonic() - t0 < 3.0  # a security refusal is not retried
    return str(info.value)


def test_right_certificates_and_credentials_get_values(secure_plant: ValueServer, certs) -> None:
    with InputBridge(twin_spec(secure_plant, certs)) as bridge:
        values, age, stale = np.zeros(1), np.zeros(1), np.zeros(1, dtype=bool)
        t0 = time.monotonic()
        while bridge.read_latest(values, age, stale) or values[0] != 3.25:
            assert time.monotonic() - t0 < 2.0, "no value over the secure channel"
            time.sleep(0.002)
        secure_plant.publish(np.array([-1.5]))
        while values[0] != -1.5:
            assert time.monotonic() - t0 < 4.0, "no update over the secure channel"
            bridge.read_latest(values, age, stale)
            time.sleep(0.002)


def test_wrong_password_is_refused(secure_plant: ValueServer, certs, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    text = refused(twin_spec(secure_plant, certs))
    assert f"rejected the login of user 'twin' (password from ${PASSWORD_ENV})" in text
    assert "BadUserAccessDenied" in text and secure_plant.endpoint in text
    assert "wrong" not in text  # the password itself is never shown


def test_unknown_user_is_refused(secure_plant: ValueServer, certs) -> None:
    text = refused(twin_spec(secure_plant, certs, username="mallory"))
    assert "rejected the login of user 'mallory'" in text


def test_untrusted_server_certificate_is_refused(secure_plant: ValueServer, certs) -> None:
    text = refused(twin_spec(secure_plant, certs, server_certificate=certs / "rogue.der"))
    assert text.startswith("untrusted server certificate")
    assert str(certs / "rogue.der") in text and secure_plant.endpoint in text


def test_client_certificate_the_server_does_not_trust_is_refused(
    secure_plant: ValueServer, certs
) -> None:
    text = refused(
        twin_spec(
            secure_plant, certs, certificate=certs / "rogue.der", private_key=certs / "rogue.pem"
        )
    )
    assert "BadCertificateUntrusted" in text and str(certs / "rogue.der") in text


def test_security_mode_the_server_does_not_offer_is_refused(
    secure_plant: ValueServer, certs
) -> None:
    other = "Sign" if secure_plant.security.mode == "SignAndEncrypt" else "SignAndEncrypt"
    text = refused(twin_spec(secure_plant, certs, mode=other))
    assert f"does not offer Basic256Sha256 {other}" in text
    assert f"Basic256Sha256/{secure_plant.security.mode}" in text


def test_unsecured_client_is_refused_by_a_secure_server(secure_plant: ValueServer) -> None:
    spec = OpcuaSpec(
        endpoint=secure_plant.endpoint,
        inputs=(InputSpec(secure_plant.node_ids[0], VarRef("m", "x")),),
        connect_timeout=5.0,
    )
    text = refused(spec)
    assert "requires a secure connection" in text and "add opcua.security" in text
    assert f"it offers: Basic256Sha256/{secure_plant.security.mode}" in text


def test_missing_password_variable_is_named(secure_plant: ValueServer, certs, monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    text = refused(twin_spec(secure_plant, certs))
    assert f"environment variable {PASSWORD_ENV}" in text


# ------------------------------------------------------------------ issue 14: certificate checks
def _expired(base: Path, name: str) -> tuple[Path, Path]:
    import datetime as dt

    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    return generate_certificate(
        base / f"{name}.der", base / f"{name}.pem", application_uri=f"urn:cosim:test:{name}",
        common_name=name, not_before=start, days=29, overwrite=True,
    )  # fmt: skip


def test_expired_certificates_are_accepted_with_a_warning_on_both_sides(tmp_path, caplog) -> None:
    """Both peers present certificates that expired yesterday: the channel still opens (many
    plants run with old certificates), and each side says once which certificate expired."""
    import logging

    plant_cert, plant_key = _expired(tmp_path, "oldplant")
    twin_cert, twin_key = _expired(tmp_path, "oldtwin")
    server_sec = SecuritySpec(mode="SignAndEncrypt", certificate=plant_cert, private_key=plant_key)
    caplog.set_level(logging.WARNING, logger="cosim")
    with ValueServer(
        f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], security=server_sec, name="plant"
    ) as server:
        server.publish(np.array([2.5]))
        spec = OpcuaSpec(
            endpoint=server.endpoint,
            security=SecuritySpec(
                mode="SignAndEncrypt",
                certificate=twin_cert,
                private_key=twin_key,
                server_certificate=plant_cert,
            ),  # fmt: skip
            inputs=(InputSpec(server.node_ids[0], VarRef("m", "x")),),
            connect_timeout=5.0,
        )
        with InputBridge(spec) as bridge:
            values, age, stale = np.zeros(1), np.zeros(1), np.zeros(1, dtype=bool)
            t0 = time.monotonic()
            while bridge.read_latest(values, age, stale) or values[0] != 2.5:
                assert time.monotonic() - t0 < 3.0, "no value over the secure channel"
                time.sleep(0.002)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "the OPC UA server at" in text and "CN=oldplant" in text and "expired on" in text, text
    assert "OPC UA client certificate" in text and "CN=oldtwin" in text, text


def test_certificate_problems_are_found_by_validate(tmp_path) -> None:
    """An expired certificate is a warning; a key of another certificate, a key file that is a
    certificate, a certificate file that is not one are errors, each at its key."""
    from cosim.io.opcua import check_security

    good_cert, good_key = generate_certificate(
        tmp_path / "a.der", tmp_path / "a.pem", application_uri="urn:a"
    )
    _, other_key = generate_certificate(
        tmp_path / "b.der", tmp_path / "b.pem", application_uri="urn:b"
    )
    old_cert, old_key = _expired(tmp_path, "old")
    cases = {
        "expired": ({"certificate": old_cert.name, "private_key": old_key.name}, "warning",
                    "certificate old.der expired on"),
        "mismatch": ({"certificate": good_cert.name, "private_key": other_key.name}, "error",
                     "the private key b.pem does not belong to the certificate a.der"),
        "swapped": ({"certificate": good_key.name, "private_key": good_cert.name}, "error",
                    "is not an X.509 certificate"),
        "trusted expired": ({"certificate": good_cert.name, "private_key": good_key.name,
                             "trusted_clients": [old_cert.name]}, "warning",
                            "trusted certificate old.der expired"),
    }  # fmt: skip
    for name, (data, severity, message) in cases.items():
        _, problems = check_security(
            {"mode": "Sign", **data}, tmp_path, side="server", path=("plant", "security")
        )
        found = [p for p in problems if message in p.message]
        assert found and found[0].severity == severity, (name, [str(p) for p in problems])
    _, clean = check_security(
        {"mode": "Sign", "certificate": "a.der", "private_key": "a.pem"},
        tmp_path, side="server", path=("plant", "security"),
    )  # fmt: skip
    assert clean == []

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

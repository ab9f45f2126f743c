"""Validation of the `opcua:` section: every rule, its message, hint and file:line location."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from cosim.errors import BridgeError, ConfigError
from cosim.model.spec import ComponentSpec, SimulationSpec, SystemSpec, VarRef
from cosim.opcua.certs import generate_certificate
from cosim.opcua.config import check_opcua, check_security, opcua_from_system, parse_opcua

TWIN_YAML = """\
name: twin
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  security:
    policy: Basic256Sha256
    mode: SignAndEncrypt
    certificate: certs/twin.der
    private_key: certs/twin.pem
    server_certificate: certs/plant.der
    username: twin
    password_env: COSIM_OPCUA_PASSWORD
  inputs:
    - {node: "ns=2;s=Plant.MotorCurrent", to: motor.i_meas, stale_after: 0.5}
  outputs:
    - {from: controller.command, node: "ns=2;s=Plant.Setpoint"}
  write: true
  on_disconnect: pause
  connect_timeout: 3
  serve:
    endpoint: opc.tcp://127.0.0.1:4841
"""


@pytest.fixture(scope="module")
def certdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("opcua_config")
    for name in ("twin", "plant"):
        generate_certificate(
            base / "certs" / f"{name}.der",
            base / "certs" / f"{name}.pem",
            application_uri=f"urn:cosim:test:{name}",
        )
    return base


def _data(text: str = TWIN_YAML) -> dict:
    return yaml.safe_load(text)["opcua"]


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (the independent reference)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _errors(problems):
    return [p for p in problems if p.severity == "error"]


def test_the_issue_example_parses_with_paths_relative_to_the_yaml_folder(certdir: Path) -> None:
    spec = parse_opcua(_data(), certdir, file="twin.yaml", text=TWIN_YAML)
    assert spec.endpoint == "opc.tcp://127.0.0.1:4840"
    assert spec.security is not None
    assert spec.security.certificate == (certdir / "certs" / "twin.der").resolve()
    assert spec.security.private_key == (certdir / "certs" / "twin.pem").resolve()
    assert spec.security.server_certificate == (certdir / "certs" / "plant.der").resolve()
    assert spec.security.username == "twin"
    assert spec.security.password_env == "COSIM_OPCUA_PASSWORD"
    assert [(i.node, str(i.to), i.stale_after) for i in spec.inputs] == [
        ("ns=2;s=Plant.MotorCurrent", "motor.i_meas", 0.5)
    ]
    assert spec.inputs[0].to == VarRef("motor", "i_meas")
    assert [(str(o.source), o.node) for o in spec.outputs] == [
        ("controller.command", "ns=2;s=Plant.Setpoint")
    ]
    assert spec.write is True
    assert spec.on_disconnect == "pause"
    assert spec.connect_timeout == 3.0
    assert spec.publishing_interval == 0.01  # documented default: 10 ms
    assert spec.serve is not None and spec.serve.endpoint == "opc.tcp://127.0.0.1:4841"
    assert spec.inputs[0].loc.line == _line_of(TWIN_YAML, "Plant.MotorCurrent")


def test_defaults_of_a_minimal_section(tmp_path: Path) -> None:
    spec = parse_opcua({"endpoint": "opc.tcp://localhost:4840"}, tmp_path)
    assert (spec.write, spec.on_disconnect, spec.connect_timeout) == (False, "hold", 10.0)
    assert spec.security is None and spec.inputs == () and spec.outputs == ()


def test_outputs_without_write_true_are_refused_as_a_safety_rule(certdir: Path) -> None:
    text = TWIN_YAML.replace("  write: true\n", "")
    spec, problems = check_opcua(_data(text), certdir, file="twin.yaml", text=text)
    assert spec is None
    (problem,) = _errors(problems)
    assert "safety rule for hardware in the loop" in problem.message
    assert "write: true" in problem.message and "write: true" in problem.hint
    assert problem.loc.line == _line_of(text, "outputs:")


def test_write_false_is_refused_just_like_a_missing_write(certdir: Path) -> None:
    text = TWIN_YAML.replace("  write: true\n", "  write: false\n")
    with pytest.raises(ConfigError) as info:
        parse_opcua(_data(text), certdir)
    assert "safety rule" in str(info.value)


def test_a_plain_password_is_refused_and_password_env_suggested(certdir: Path) -> None:
    text = TWIN_YAML.replace("    username: twin\n", "    username: twin\n    password: hunter2\n")
    spec, problems = check_opcua(_data(text), certdir, file="twin.yaml", text=text)
    assert spec is None
    (problem,) = _errors(problems)
    assert "plain passwords are not allowed" in problem.message
    assert "password_env" in problem.hint
    assert "hunter2" not in str(problem)  # never echo the secret
    assert problem.loc.line == _line_of(text, "password: hunter2")


@pytest.mark.parametrize(
    ("old", "new", "suggestion"),
    [
        ("stale_after: 0.5", "stale_afer: 0.5", "stale_after"),
        ("  on_disconnect: pause", "  on_disconect: pause", "on_disconnect"),
        ("    server_certificate:", "    server_certificat:", "server_certificate"),
        ("  connect_timeout: 3", "  conect_timeout: 3", "connect_timeout"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(
    certdir: Path, old: str, new: str, suggestion: str
) -> None:
    text = TWIN_YAML.replace(old, new)
    assert text != TWIN_YAML
    _, problems = check_opcua(_data(text), certdir, file="twin.yaml", text=text)
    wrong = new.split(":")[0].strip()
    found = [p for p in _errors(problems) if f"unknown key '{wrong}'" in p.message]
    assert len(found) == 1
    assert f"did you mean '{suggestion}'?" in found[0].hint
    assert found[0].loc.line == _line_of(text, new.strip())


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("on_disconnect: pause", "on_disconnect: hodl", "did you mean 'hold'"),
        ("mode: SignAndEncrypt", "mode: None", "leave out the whole `security:`"),
        ("policy: Basic256Sha256", "policy: Basic256", "did you mean 'Basic256Sha256'"),
        ('node: "ns=2;s=Plant.MotorCurrent"', 'node: "ns=two;s=X"', "not a valid OPC UA node id"),
        ("to: motor.i_meas", "to: motor", "must be 'component.variable'"),
        ("stale_after: 0.5", "stale_after: -1", "positive number of seconds"),
        ("endpoint: opc.tcp://127.0.0.1:4840", "endpoint: http://127.0.0.1:4840", "opc.tcp://"),
        ("endpoint: opc.tcp://127.0.0.1:4840", "endpoint: opc.tcp://127.0.0.1", "a port"),
        ("connect_timeout: 3", "connect_timeout: soon", "non-negative number"),
        ("opc.tcp://127.0.0.1:4841", "opc.tcp://localhost:4840", "the plant's endpoint"),
        ("password_env: COSIM_OPCUA_PASSWORD", "password_env: my password", "NAME of an"),
        ("certificate: certs/twin.der", "certificate: certs/missing.der", "does not exist"),
    ],
)
def test_each_bad_value_is_reported_with_a_useful_text(
    certdir: Path, old: str, new: str, expect: str
) -> None:
    text = TWIN_YAML.replace(old, new, 1)
    assert text != TWIN_YAML
    spec, problems = check_opcua(_data(text), certdir, file="twin.yaml", text=text)
    assert spec is None
    assert any(expect in str(p) for p in _errors(problems)), [str(p) for p in problems]


def test_every_problem_is_reported_not_only_the_first(certdir: Path) -> None:
    text = (
        TWIN_YAML.replace("  write: true\n", "")
        .replace("on_disconnect: pause", "on_disconnect: later")
        .replace("stale_after: 0.5", "stale_after: 0")
    )
    _, problems = check_opcua(_data(text), certdir, file="twin.yaml", text=text)
    assert len(_errors(problems)) == 3


def test_username_needs_password_env_and_components_are_checked(certdir: Path) -> None:
    text = TWIN_YAML.replace("    password_env: COSIM_OPCUA_PASSWORD\n", "")
    _, problems = check_opcua(_data(text), certdir, components=["motr", "controller"])
    messages = [str(p) for p in _errors(problems)]
    assert any("has a username but no password_env" in m for m in messages)
    assert any(
        "no component named 'motor'" in m and "did you mean 'motr.i_meas'" in m for m in messages
    )


def test_two_writers_to_one_node_and_two_feeds_into_one_input_are_refused(tmp_path: Path) -> None:
    data = {
        "endpoint": "opc.tcp://127.0.0.1:4840",
        "write": True,
        "inputs": [{"node": "ns=2;s=A", "to": "m.u"}, {"node": "ns=2;s=B", "to": "m.u"}],
        "outputs": [{"from": "m.y", "node": "ns=2;s=C"}, {"from": "m.z", "node": "ns=2;s=C"}],
    }
    _, problems = check_opcua(data, tmp_path)
    messages = [p.message for p in _errors(problems)]
    assert any("m.u is already fed by opcua.inputs[0]" in m for m in messages)
    assert any("ns=2;s=C is already written by opcua.outputs[0]" in m for m in messages)


def test_missing_server_certificate_is_a_warning_not_an_error(certdir: Path) -> None:
    text = TWIN_YAML.replace("    server_certificate: certs/plant.der\n", "")
    spec, problems = check_opcua(_data(text), certdir)
    assert spec is not None
    (warning,) = spec.warnings
    assert "any server answering at the endpoint is trusted" in warning.message


def test_server_side_security_takes_trusted_clients_not_server_certificate(certdir: Path) -> None:
    data = {
        "mode": "Sign",
        "certificate": "certs/plant.der",
        "private_key": "certs/plant.pem",
        "trusted_clients": ["certs/twin.der"],
    }
    spec, problems = check_security(data, certdir, side="server", path=("plant", "security"))
    assert problems == [] and spec is not None
    assert spec.trusted_clients == ((certdir / "certs" / "twin.der").resolve(),)
    data["server_certificate"] = "certs/plant.der"
    spec, problems = check_security(data, certdir, side="server", path=("plant", "security"))
    assert spec is None
    assert "unknown key 'server_certificate' in plant.security" in problems[0].message


def test_password_comes_from_the_environment(certdir: Path, monkeypatch) -> None:
    spec = parse_opcua(_data(), certdir)
    monkeypatch.setenv("COSIM_OPCUA_PASSWORD", "s3cret")
    assert spec.security.password() == "s3cret"
    monkeypatch.delenv("COSIM_OPCUA_PASSWORD")
    with pytest.raises(BridgeError, match="COSIM_OPCUA_PASSWORD"):
        spec.security.password()


def test_opcua_from_system_uses_the_yaml_folder_text_and_components(certdir: Path) -> None:
    path = certdir / "twin.yaml"
    path.write_text(TWIN_YAML)
    components = {
        name: ComponentSpec(name=name, fmu="x.fmu", fmu_path=certdir / "x.fmu")
        for name in ("motor", "controller")
    }
    system = SystemSpec(
        name="twin",
        path=path,
        text=TWIN_YAML,
        sha256=hashlib.sha256(TWIN_YAML.encode()).hexdigest(),
        simulation=SimulationSpec(),
        components=components,
        extra={"opcua": _data()},
    )
    spec = opcua_from_system(system)
    assert spec is not None and spec.inputs[0].loc.file == str(path)
    assert spec.security.certificate == (certdir / "certs" / "twin.der").resolve()
    bad = SystemSpec(**{**system.__dict__, "components": {"controller": components["controller"]}})
    with pytest.raises(ConfigError, match="no component named 'motor'"):
        opcua_from_system(bad)
    none = SystemSpec(**{**system.__dict__, "extra": {}})
    assert opcua_from_system(none) is None


@pytest.mark.parametrize(
    "node",
    [
        "ns=2;i=1234",
        "nsu=urn:indep:plant;i=1234",
        "nsu=http://example.com/Plant/;s=Motor.Current",
        "ns=2;s=name;with;semicolons",
        "i=2258",
        "ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a",
    ],
)
def test_node_id_forms_accepted(node: str) -> None:
    data = {"endpoint": "opc.tcp://127.0.0.1:4840", "inputs": [{"node": node, "to": "m.u"}]}
    spec, problems = check_opcua(data, ".")
    assert spec is not None, [str(p) for p in problems]
    assert spec.inputs[0].node == node


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        ("svr=1;ns=2;i=3", "'svr=' is not supported"),  # another server: asyncua drops svr
        ("nsu=urn:x;ns=2;i=1", "ns= or nsu=, not both"),
        ("nsu=;i=1", "nsu= needs a namespace URI"),
        ("ns=2;ns=3;i=1", "'ns=' is given twice"),
        ("ns=2", "no identifier"),
        ("ns=2;i=x", "invalid literal"),
    ],
)
def test_node_id_forms_refused_with_the_reason(node: str, reason: str) -> None:
    data = {"endpoint": "opc.tcp://127.0.0.1:4840", "inputs": [{"node": node, "to": "m.u"}]}
    spec, problems = check_opcua(data, ".")
    assert spec is None
    (problem,) = _errors(problems)
    assert f"'{node}' is not a valid OPC UA node id (" in problem.message
    assert reason in problem.message
    assert "nsu=<namespace URI>" in problem.hint

"""Read the `opcua:` section of a system YAML (plain data) into an OpcuaSpec, every problem located.

Also the checks the `plant:` section shares with it: endpoints, node ids and `security:`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from cosim.errors import ConfigError, Problem
from cosim.io.locate import Problems, did_you_mean, locator
from cosim.model.live import (
    CLIENT_ISOLATION,
    MODES,
    ON_DISCONNECT,
    POLICIES,
    InputSpec,
    OpcuaSpec,
    OutputSpec,
    SecuritySpec,
    ServeSpec,
)
from cosim.model.spec import SystemSpec, VarRef

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CERT_HINT = (
    "make a certificate and key with cosim.opcua.certs.generate_certificate "
    "(see docs/opcua.md, 'Certificates')"
)


# --------------------------------------------------------------------------- helpers
def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _is_number(value: Any) -> bool:
    """An int or float (not a bool) that converts to a float: YAML integers have no size
    limit, and 10**400 converts to nothing (.inf, written as such, stays a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _close(name: str, candidates: Collection[str]) -> str | None:
    return did_you_mean(name, candidates, cutoff=0.6)


def _check_keys(
    ctx: Problems, data: Mapping[str, Any], path: tuple, allowed: Sequence[str]
) -> None:
    """Unknown keys (with did-you-mean); a `password` key gets its own message."""
    for key in data:
        if key in allowed:
            continue
        kpath = (*path, key)
        if str(key).lower() in ("password", "passwd", "pass", "pwd"):
            ctx.error(
                kpath,
                f"{ctx.where(kpath)}: plain passwords are not allowed in a system file",
                "put the password in an environment variable and name that variable with "
                "`password_env: COSIM_OPCUA_PASSWORD` (the YAML is recorded with the results "
                "and often committed; the environment is not)",
            )
            continue
        close = _close(str(key), allowed)
        ctx.error(
            kpath,
            f"unknown key '{key}' in {ctx.where(path)}",
            (f"did you mean '{close}'? " if close else "") + f"allowed keys: {', '.join(allowed)}",
        )


def _mapping(ctx: Problems, value: Any, path: tuple, what: str) -> Mapping[str, Any] | None:
    if isinstance(value, dict):
        return value
    ctx.error(path, f"{ctx.where(path)} must be a mapping ({what}), got {_describe(value)}")
    return None


def _endpoint(ctx: Problems, value: Any, path: tuple) -> str | None:
    example = "opc.tcp://127.0.0.1:4840"
    if not isinstance(value, str) or not value.strip():
        ctx.error(
            path,
            f"{ctx.where(path)} must be an OPC UA endpoint URL, got {_describe(value)}",
            f"for example {example}",
        )
        return None
    try:
        url = urlparse(value.strip())
    except ValueError as exc:  # e.g. "opc.tcp://127.0.0.1:x]": an unbalanced IPv6 bracket
        ctx.error(
            path,
            f"{ctx.where(path)} is not a valid URL ({exc}), got '{value}'",
            f"for example {example}",
        )
        return None
    if url.scheme != "opc.tcp":
        ctx.error(
            path,
            f"{ctx.where(path)} must start with opc.tcp://, got '{value}'",
            f"OPC UA binary endpoints look like {example}",
        )
        return None
    try:
        port = url.port
    except ValueError:
        port = -1
    if not url.hostname or port is None or port <= 0:
        ctx.error(
            path,
            f"{ctx.where(path)} needs a host and a port, got '{value}'",
            f"for example {example} (4840 is the usual OPC UA port)",
        )
        return None
    return value.strip()


_ID_KINDS = ("i", "s", "g", "b")  # numeric, string, GUID, opaque (ByteString) identifiers
NODE_ID_FORMS = (
    "write it as ns=<index>;i=<number>, ns=<index>;s=<name>, or (robust: namespace indices can "
    "change when the server restarts) nsu=<namespace URI>;i=<number> / nsu=<namespace URI>;s=<name>"
)


def node_id_problem(text: str) -> str | None:
    """Why `text` is not a node id cosim can use (None if it is).

    Accepted: an optional `ns=<index>` or `nsu=<namespace URI>` (not both), then the
    identifier `i=`, `s=`, `g=` or `b=`. A server index (`svr=`) or anything else is refused.
    """
    from asyncua import ua

    parts = text.split(";")
    prefix: dict[str, str] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip()
        if key in _ID_KINDS and eq:
            break
        if not eq:
            return f"'{part}' is not a key=value part"
        if key not in ("ns", "nsu"):
            return f"'{key}=' is not supported (only ns= or nsu= may come before the identifier)"
        if key in prefix:
            return f"'{key}=' is given twice"
        prefix[key] = value.strip()
    else:
        return "it has no identifier (i=, s=, g= or b=)"
    if "ns" in prefix and "nsu" in prefix:
        return "give ns= or nsu=, not both"
    if "nsu" in prefix and not prefix["nsu"]:
        return "nsu= needs a namespace URI"
    try:
        ua.NodeId.from_string(text)
    except Exception as exc:  # asyncua raises several types for malformed ids
        cause = exc.args[-1] if len(exc.args) > 1 else exc  # (text, underlying error)
        return str(cause) or type(exc).__name__
    return None


def _node_id(ctx: Problems, value: Any, path: tuple) -> str | None:
    example = "ns=2;s=Plant.MotorCurrent"
    if not isinstance(value, str) or not value.strip():
        ctx.error(
            path,
            f"{ctx.where(path)} must be an OPC UA node id, got {_describe(value)}",
            f"for example {example}",
        )
        return None
    problem = node_id_problem(value.strip())
    if problem is not None:
        ctx.error(
            path,
            f"{ctx.where(path)}: '{value}' is not a valid OPC UA node id ({problem})",
            f"{NODE_ID_FORMS}, e.g. {example}",
        )
        return None
    return value.strip()


def _ref(
    ctx: Problems, value: Any, path: tuple, components: Collection[str] | None
) -> VarRef | None:
    component, _, variable = value.partition(".") if isinstance(value, str) else ("", "", "")
    if not component or not variable or any(c.isspace() for c in value):
        ctx.error(
            path,
            f"{ctx.where(path)} must be 'component.variable', got {_describe(value)}",
            "for example motor.i_meas",
        )
        return None
    loc = ctx.at(path)
    if components is not None and component not in components:
        close = _close(component, components)
        ctx.error(
            path,
            f"{ctx.where(path)}: no component named '{component}'",
            (f"did you mean '{close}.{variable}'? " if close else "")
            + f"components: {', '.join(components) or '(none)'}",
        )
        return None
    return VarRef(component, variable, loc)


def _path(ctx: Problems, value: Any, path: tuple, base_dir: Path, what: str) -> Path | None:
    if not isinstance(value, str) or not value.strip():
        ctx.error(path, f"{ctx.where(path)} must be a file path ({what}), got {_describe(value)}")
        return None
    p = Path(value).expanduser()
    p = (p if p.is_absolute() else base_dir / p).resolve()
    if not p.is_file():
        ctx.error(path, f"{ctx.where(path)}: {what} {p} does not exist", _CERT_HINT)
        return None
    return p


def _read_certificate(ctx: Problems, p: Path, at: tuple) -> Any:
    """The X.509 certificate in the DER or PEM file `p`, or None (an error at `at`)."""
    from cryptography import x509

    try:
        data = p.read_bytes()
        pem = data.lstrip().startswith(b"-----BEGIN")
        return x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    except (OSError, ValueError) as exc:
        ctx.error(at, f"{ctx.where(at)}: {p} is not an X.509 certificate (DER or PEM): {exc}")
        return None


def _check_validity(ctx: Problems, cert: Any, p: Path, at: tuple, whose: str) -> None:
    """A warning at `at` if the certificate has expired or is not valid yet."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if now > after or now < before:
        what = f"expired on {after:%Y-%m-%d}" if now > after else f"is valid from {before:%Y-%m-%d}"
        ctx.warn(
            at,
            f"{ctx.where(at)}: {whose} certificate {p.name} {what}; OPC UA peers that check "
            "validity periods refuse it",
            "make a new certificate (cosim.opcua.certs.generate_certificate) and trust that one",
        )


def _check_certificates(
    ctx: Problems,
    path: tuple,
    files: Mapping[str, Path | None],
    server_cert: Path | None,
    trusted: Sequence[tuple[int, Path]],
    own: str,
) -> None:
    """The certificate files are certificates, the private key belongs to the certificate,
    and none has expired (a warning: a peer that checks refuses it, one that does not, not)."""
    from cryptography.hazmat.primitives import serialization

    cert_file, key_file = files.get("certificate"), files.get("private_key")
    cert = None
    if cert_file is not None:
        cert = _read_certificate(ctx, cert_file, (*path, "certificate"))
        if cert is not None:
            _check_validity(ctx, cert, cert_file, (*path, "certificate"), own)
    if key_file is not None:
        at = (*path, "private_key")
        try:
            data = key_file.read_bytes()
            load = (
                serialization.load_pem_private_key
                if data.lstrip().startswith(b"-----BEGIN")
                else serialization.load_der_private_key
            )
            key = load(data, password=None)
        except (OSError, ValueError, TypeError) as exc:
            why = "it is encrypted (cosim needs it unencrypted)" if "password" in str(exc) else exc
            ctx.error(at, f"{ctx.where(at)}: {key_file} is not a private key (DER or PEM): {why}")
            key = None
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        if key is not None and cert is not None:
            mine = key.public_key().public_bytes(serialization.Encoding.DER, fmt)
            if mine != cert.public_key().public_bytes(serialization.Encoding.DER, fmt):
                ctx.error(
                    at,
                    f"{ctx.where(at)}: the private key {key_file.name} does not belong to the "
                    f"certificate {cert_file.name} (their public keys differ)",
                    "use the key file that was made together with this certificate",
                )
    others = [("server_certificate", server_cert)] if server_cert is not None else []
    others += [(("trusted_clients", i), p) for i, p in trusted]
    for key_path, p in others:
        at = (*path, *(key_path if isinstance(key_path, tuple) else (key_path,)))
        other = _read_certificate(ctx, p, at)
        if other is not None:
            _check_validity(ctx, other, p, at, "the trusted")


# --------------------------------------------------------------------------- sections
def _choice(ctx: Problems, data: dict, key: str, choices: tuple[str, ...], hint: str) -> Any:
    """data[key], one of `choices` (default: the first); an error with did-you-mean if not."""
    value = data.get(key, choices[0])
    if value in choices:
        return value
    close = _close(str(value), choices)
    ctx.error(
        (key,),
        f"opcua.{key} must be one of {', '.join(choices)}, got {_describe(value)}",
        f"did you mean '{close}'?" if close else hint,
    )
    return choices[0]


_TOP_KEYS = (
    "endpoint",
    "security",
    "inputs",
    "outputs",
    "write",
    "on_disconnect",
    "connect_timeout",
    "publishing_interval",
    "playout_delay",
    "isolation",
    "serve",
)
_INPUT_KEYS = ("node", "to", "stale_after")
_OUTPUT_KEYS = ("from", "node")
_SERVE_KEYS = ("endpoint", "security", "namespace", "prefix")
_CLIENT_SECURITY_KEYS = (
    "policy",
    "mode",
    "certificate",
    "private_key",
    "server_certificate",
    "username",
    "password_env",
)
_SERVER_SECURITY_KEYS = (
    "policy",
    "mode",
    "certificate",
    "private_key",
    "trusted_clients",
    "username",
    "password_env",
)
# every key the parser accepts, by node path ("[]": any list item), for cosim.io.schema's test
KEYS: dict[str, tuple[str, ...]] = {
    "opcua": _TOP_KEYS,
    "opcua.security": _CLIENT_SECURITY_KEYS,
    "opcua.inputs[]": _INPUT_KEYS,
    "opcua.outputs[]": _OUTPUT_KEYS,
    "opcua.serve": _SERVE_KEYS,
    "opcua.serve.security": _SERVER_SECURITY_KEYS,
}


def _security(
    ctx: Problems, data: Any, path: tuple, base_dir: Path, side: Literal["client", "server"]
) -> SecuritySpec | None:
    data = _mapping(ctx, data, path, "policy, mode, certificate, ...")
    if data is None:
        return None
    before = len(ctx.items)
    allowed = _CLIENT_SECURITY_KEYS if side == "client" else _SERVER_SECURITY_KEYS
    _check_keys(ctx, data, path, allowed)
    policy = data.get("policy", "Basic256Sha256")
    if policy not in POLICIES:
        close = _close(str(policy), POLICIES)
        ctx.error(
            (*path, "policy"),
            f"{ctx.where((*path, 'policy'))} must be one of {', '.join(POLICIES)}, "
            f"got {_describe(policy)}",
            f"did you mean '{close}'?" if close else "cosim supports Basic256Sha256",
        )
    mode = data.get("mode", "SignAndEncrypt")
    if mode not in MODES:
        close = _close(str(mode), MODES)
        hint = f"did you mean '{close}'?" if close else ""
        if str(mode).lower() in ("none", "false"):
            hint = "leave out the whole `security:` mapping for an unsecured connection"
        ctx.error(
            (*path, "mode"),
            f"{ctx.where((*path, 'mode'))} must be Sign or SignAndEncrypt, got {_describe(mode)}",
            hint,
        )
    files: dict[str, Path | None] = {}
    own = "the twin's" if side == "client" else "the server's"
    for key, what in (
        ("certificate", f"{own} certificate"),
        ("private_key", f"{own} private key"),
    ):
        if key not in data:
            ctx.error(path, f"{ctx.where(path)} is missing '{key}' ({what})", _CERT_HINT)
            files[key] = None
        else:
            files[key] = _path(ctx, data[key], (*path, key), base_dir, what)
    server_cert = None
    trusted: list[Path] = []
    trusted_at: list[tuple[int, Path]] = []  # (index in trusted_clients, file)
    if side == "client":
        if "server_certificate" in data:
            server_cert = _path(
                ctx,
                data["server_certificate"],
                (*path, "server_certificate"),
                base_dir,
                "the server certificate to trust",
            )
        else:
            ctx.warn(
                path,
                f"{ctx.where(path)} has no server_certificate: the server's identity is not "
                "checked, so any server answering at the endpoint is trusted",
                "pin the plant's certificate with `server_certificate: certs/plant.der`",
            )
    else:
        items = data.get("trusted_clients", [])
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            ctx.error(
                (*path, "trusted_clients"),
                f"{ctx.where((*path, 'trusted_clients'))} must be a list of certificate files, "
                f"got {_describe(items)}",
            )
            items = []
        for i, item in enumerate(items):
            p = _path(ctx, item, (*path, "trusted_clients", i), base_dir, "a client certificate")
            if p is not None:
                trusted.append(p)
                trusted_at.append((i, p))
    _check_certificates(ctx, path, files, server_cert, trusted_at, own)
    username = data.get("username")
    password_env = data.get("password_env")
    if username is not None and (not isinstance(username, str) or not username):
        ctx.error(
            (*path, "username"),
            f"{ctx.where((*path, 'username'))} must be text, got {_describe(username)}",
        )
    if password_env is not None and (
        not isinstance(password_env, str) or not _ENV_NAME.match(password_env)
    ):
        ctx.error(
            (*path, "password_env"),
            f"{ctx.where((*path, 'password_env'))} must be the NAME of an environment variable, "
            f"got {_describe(password_env)}",
            "for example password_env: COSIM_OPCUA_PASSWORD",
        )
    if username is not None and password_env is None:
        ctx.error(
            path,
            f"{ctx.where(path)} has a username but no password_env",
            "add `password_env: COSIM_OPCUA_PASSWORD` and export that variable before the run",
        )
    if password_env is not None and username is None:
        ctx.error(path, f"{ctx.where(path)} has password_env but no username", "add `username:`")
    if len(ctx.items) != before and any(p.severity == "error" for p in ctx.items[before:]):
        return None
    return SecuritySpec(
        policy=policy,
        mode=mode,
        certificate=files["certificate"],
        private_key=files["private_key"],
        server_certificate=server_cert,
        trusted_clients=tuple(trusted),
        username=username,
        password_env=password_env,
    )


def _stale_after(ctx: Problems, value: Any, path: tuple) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not value > 0:
        ctx.error(
            path,
            f"{ctx.where(path)} must be a positive number of seconds, got {_describe(value)}",
            "for example stale_after: 0.5",
        )
        return None
    return float(value)


def _inputs(ctx: Problems, data: Any, components: Collection[str] | None) -> tuple[InputSpec, ...]:
    path = ("inputs",)
    if not isinstance(data, list):
        ctx.error(
            path,
            f"{ctx.where(path)} must be a list, got {_describe(data)}",
            'for example - {node: "ns=2;s=Plant.X", to: motor.x, stale_after: 0.5}',
        )
        return ()
    found: list[InputSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        ipath = (*path, i)
        item = _mapping(ctx, item, ipath, "node, to, stale_after")
        if item is None:
            continue
        _check_keys(ctx, item, ipath, _INPUT_KEYS)
        for key in ("node", "to"):
            if key not in item:
                ctx.error(ipath, f"{ctx.where(ipath)} is missing '{key}'")
        node = _node_id(ctx, item["node"], (*ipath, "node")) if "node" in item else None
        to = _ref(ctx, item["to"], (*ipath, "to"), components) if "to" in item else None
        stale = _stale_after(ctx, item.get("stale_after"), (*ipath, "stale_after"))
        if to is not None and str(to) in seen:
            ctx.error(
                (*ipath, "to"),
                f"{ctx.where((*ipath, 'to'))}: {to} is already fed by "
                f"opcua.inputs[{seen[str(to)]}]",
                "an FMU input takes one plant signal; remove one of the two",
            )
        elif to is not None:
            seen[str(to)] = i
        if node is not None and to is not None:
            found.append(InputSpec(node, to, stale, ctx.at(ipath)))
    return tuple(found)


def _outputs(
    ctx: Problems, data: Any, components: Collection[str] | None
) -> tuple[OutputSpec, ...]:
    path = ("outputs",)
    if not isinstance(data, list):
        ctx.error(
            path,
            f"{ctx.where(path)} must be a list, got {_describe(data)}",
            'for example - {from: controller.command, node: "ns=2;s=Plant.Setpoint"}',
        )
        return ()
    found: list[OutputSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        ipath = (*path, i)
        item = _mapping(ctx, item, ipath, "from, node")
        if item is None:
            continue
        _check_keys(ctx, item, ipath, _OUTPUT_KEYS)
        for key in ("from", "node"):
            if key not in item:
                ctx.error(ipath, f"{ctx.where(ipath)} is missing '{key}'")
        source = _ref(ctx, item["from"], (*ipath, "from"), components) if "from" in item else None
        node = _node_id(ctx, item["node"], (*ipath, "node")) if "node" in item else None
        if node is not None and node in seen:
            ctx.error(
                (*ipath, "node"),
                f"{ctx.where((*ipath, 'node'))}: {node} is already written by "
                f"opcua.outputs[{seen[node]}]",
                "a plant node takes one writer; remove one of the two",
            )
        elif node is not None:
            seen[node] = i
        if source is not None and node is not None:
            found.append(OutputSpec(source, node, ctx.at(ipath)))
    return tuple(found)


def _serve(ctx: Problems, data: Any, base_dir: Path) -> ServeSpec | None:
    path = ("serve",)
    data = _mapping(ctx, data, path, "endpoint, security, namespace, prefix")
    if data is None:
        return None
    _check_keys(ctx, data, path, _SERVE_KEYS)
    if "endpoint" not in data:
        ctx.error(
            path,
            f"{ctx.where(path)} is missing 'endpoint'",
            "for example endpoint: opc.tcp://127.0.0.1:4841",
        )
        return None
    endpoint = _endpoint(ctx, data["endpoint"], (*path, "endpoint"))
    security = None
    if data.get("security") is not None:
        security = _security(ctx, data["security"], (*path, "security"), base_dir, "server")
    for key, default in (("namespace", "urn:cosim"), ("prefix", "Twin")):
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            ctx.error(
                (*path, key), f"{ctx.where((*path, key))} must be text, got {_describe(value)}"
            )
    if endpoint is None:
        return None
    return ServeSpec(
        endpoint=endpoint,
        security=security,
        namespace=str(data.get("namespace", "urn:cosim")),
        prefix=str(data.get("prefix", "Twin")),
        loc=ctx.at(path),
    )


def _same_listener(a: str, b: str) -> bool:
    ua, ub = urlparse(a), urlparse(b)
    local = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
    host_a = "local" if ua.hostname in local else ua.hostname
    host_b = "local" if ub.hostname in local else ub.hostname
    return host_a == host_b and ua.port == ub.port


def _problems(file: str, text: str | None, root: tuple) -> Problems:
    """A collector placing problems at file:line:col of `text` (none without a file name)."""
    return Problems(locator(text, file) if file else None, root)


# --------------------------------------------------------------------------- entry points
def check_opcua(
    data: Any,
    base_dir: str | Path,
    *,
    file: str = "",
    text: str | None = None,
    components: Collection[str] | None = None,
) -> tuple[OpcuaSpec | None, list[Problem]]:
    """Validate the plain data of an `opcua:` section; return the spec and every problem.

    `base_dir` is the YAML file's folder (certificate paths are relative to it); `file` and
    `text` (the YAML text) give problems a file:line:col; `components`, if given, are the
    system's component names (checked for inputs' `to` and outputs' `from`). The spec is
    None when any error was found.
    """
    ctx = _problems(file, text, ("opcua",))
    base_dir = Path(base_dir)
    data = _mapping(ctx, data, (), "endpoint, inputs, outputs, ...")
    if data is None:
        return None, ctx.items
    _check_keys(ctx, data, (), _TOP_KEYS)

    inputs = _inputs(ctx, data["inputs"], components) if data.get("inputs") is not None else ()
    outputs = _outputs(ctx, data["outputs"], components) if data.get("outputs") is not None else ()
    has_outputs = bool(data.get("outputs"))

    write = data.get("write", False)
    if not isinstance(write, bool):
        ctx.error(("write",), f"opcua.write must be true or false, got {_describe(write)}")
        write = False
    if has_outputs and write is not True:
        n = len(data["outputs"]) if isinstance(data["outputs"], list) else 0
        ctx.error(
            ("outputs",),
            f"opcua.outputs would write {n} value(s) to the plant, but `write: true` is not set. "
            "This is a safety rule for hardware in the loop: cosim never writes to a live "
            "plant unless the system file says so explicitly",
            "if writing to these nodes is really intended, add `write: true` under `opcua:`; "
            "otherwise remove `outputs:`",
        )
    elif write and not has_outputs:
        ctx.warn(
            ("write",),
            "opcua.write is true but there are no outputs to write",
            "remove `write: true` or add `outputs:`",
        )

    endpoint = None
    if "endpoint" in data:
        endpoint = _endpoint(ctx, data["endpoint"], ("endpoint",))
    elif data.get("inputs") or data.get("outputs"):
        ctx.error(
            (),
            "opcua is missing 'endpoint' (the plant's OPC UA server) for its inputs/outputs",
            "for example endpoint: opc.tcp://127.0.0.1:4840",
        )

    security = None
    if data.get("security") is not None:
        security = _security(ctx, data["security"], ("security",), base_dir, "client")

    on_disconnect = _choice(
        ctx, data, "on_disconnect", ON_DISCONNECT,
        "hold: keep stepping on the last values; pause: wait for the plant; abort: stop",
    )  # fmt: skip
    isolation = _choice(
        ctx, data, "isolation", CLIENT_ISOLATION,
        "process: the OPC UA client in a worker process (default); thread: in ours",
    )  # fmt: skip

    numbers: dict[str, float] = {}
    for key, default, low_ok, hint in (
        ("connect_timeout", 10.0, True, "seconds to keep retrying at start, e.g. 10"),
        ("publishing_interval", 0.01, False, "seconds, e.g. 0.01 for 10 ms"),
        ("playout_delay", 0.0, True, "seconds, e.g. 0.03: above the network's worst delay"),
    ):
        value = data.get(key, default)
        ok = _is_number(value) and (value >= 0 if low_ok else value > 0)
        if not ok:
            kind = "a non-negative" if low_ok else "a positive"
            ctx.error((key,), f"opcua.{key} must be {kind} number, got {_describe(value)}", hint)
            value = default
        numbers[key] = float(value)

    serve = _serve(ctx, data["serve"], base_dir) if data.get("serve") is not None else None
    if serve is not None and endpoint is not None and _same_listener(serve.endpoint, endpoint):
        ctx.error(
            ("serve", "endpoint"),
            f"opcua.serve.endpoint {serve.endpoint} is the plant's endpoint",
            "the twin's own server needs its own port, e.g. the plant's port + 1",
        )

    if any(p.severity == "error" for p in ctx.items):
        return None, ctx.items
    spec = OpcuaSpec(
        endpoint=endpoint,
        security=security,
        inputs=inputs,
        outputs=outputs,
        write=write,
        on_disconnect=on_disconnect,
        connect_timeout=numbers["connect_timeout"],
        publishing_interval=numbers["publishing_interval"],
        playout_delay=numbers["playout_delay"],
        isolation=isolation,
        serve=serve,
        loc=ctx.at(()),
        warnings=tuple(p for p in ctx.items if p.severity == "warning"),
    )
    return spec, ctx.items


def parse_opcua(
    data: Any,
    base_dir: str | Path,
    *,
    file: str = "",
    text: str | None = None,
    components: Collection[str] | None = None,
) -> OpcuaSpec:
    """Like check_opcua, but raise ConfigError holding every problem if any is an error."""
    spec, problems = check_opcua(data, base_dir, file=file, text=text, components=components)
    if spec is None:
        raise ConfigError(problems)
    return spec


def opcua_from_system(system: SystemSpec) -> OpcuaSpec | None:
    """The validated `opcua:` section of a loaded system (None if it has none)."""
    if "opcua" not in system.extra:
        return None
    return parse_opcua(
        system.extra["opcua"],
        system.path.parent,
        file=str(system.path),
        text=system.text,
        components=list(system.components),
    )


def check_security(
    data: Any,
    base_dir: str | Path,
    *,
    side: Literal["client", "server"],
    path: Sequence[str | int] = ("opcua", "security"),
    file: str = "",
    text: str | None = None,
) -> tuple[SecuritySpec | None, list[Problem]]:
    """Validate one `security:` mapping found at `path` (e.g. ("plant", "security"))."""
    ctx = _problems(file, text, tuple(path))
    spec = _security(ctx, data, (), Path(base_dir), side)
    return spec, ctx.items


def check_endpoint(
    value: Any,
    *,
    path: Sequence[str | int] = ("plant", "endpoint"),
    file: str = "",
    text: str | None = None,
) -> tuple[str | None, list[Problem]]:
    """Validate one opc.tcp:// endpoint URL found at `path`."""
    ctx = _problems(file, text, tuple(path))
    return _endpoint(ctx, value, ()), ctx.items


__all__ = [
    "KEYS",
    "NODE_ID_FORMS",
    "check_endpoint",
    "check_opcua",
    "check_security",
    "node_id_problem",
    "opcua_from_system",
    "parse_opcua",
]

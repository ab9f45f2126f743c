"""`cosim forecast TWIN.yaml`: ask a running twin when its targets cross their limits."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "system", metavar="TWIN.yaml", help="the twin's system file (its opcua.serve and forecast)"
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="the running twin's server (default: opcua.serve.endpoint of the YAML)",
    )
    parser.add_argument(
        "--horizon",
        type=float,
        metavar="S",
        help="seconds to simulate ahead (default: forecast.horizon of the YAML)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the forecast as JSON")


def run(args: argparse.Namespace) -> int:
    from cosim.api import System
    from cosim.errors import BridgeError, ConfigError, Location, Problem

    spec = System.from_file(args.system).spec
    serve = spec.opcua.serve if spec.opcua is not None else None
    if serve is None:
        raise ConfigError(
            Problem(
                Location(str(args.system)),
                "the twin serves nothing: no opcua.serve",
                "add opcua.serve.endpoint so clients can reach the twin",
            )  # fmt: skip
        )
    if not spec.analytics or spec.analytics.forecast is None:
        raise ConfigError(
            Problem(
                Location(str(args.system)),
                "the twin has no forecast: section",
                "add forecast: {targets: [...]} (see docs/twin.md)",
            )  # fmt: skip
        )
    if args.horizon is not None and not (math.isfinite(args.horizon) and args.horizon > 0):
        raise ConfigError(Problem(Location("--horizon"), "--horizon must be > 0"))
    endpoint = args.endpoint or serve.endpoint
    try:
        text = _call(endpoint, serve.namespace, spec.name, args.horizon or 0.0, args.timeout)
    except (OSError, TimeoutError) as exc:
        msg = str(exc) or type(exc).__name__
        raise BridgeError(f"cannot reach the twin at {endpoint}: {msg}") from None
    result = json.loads(text)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print(result)
    return 0


def _call(endpoint: str, namespace: str, name: str, horizon: float, timeout: float) -> str:
    import asyncio

    from cosim.errors import BridgeError

    async def call() -> str:
        from asyncua import Client, ua

        client = Client(endpoint, timeout=timeout)
        async with client:
            idx = await client.get_namespace_index(namespace)
            folder = client.get_node(ua.NodeId(name, idx))
            try:
                out = await folder.call_method(
                    ua.NodeId(f"{name}.Forecast", idx),
                    ua.Variant(float(horizon), ua.VariantType.Double),
                )
            except ua.UaStatusCodeError as exc:
                raise BridgeError(f"the twin's Forecast method failed: {exc}") from None
        return out if isinstance(out, str) else out[0]

    try:
        return asyncio.run(asyncio.wait_for(call(), timeout + 10))
    except ValueError as exc:  # the namespace is not on that server
        raise BridgeError(f"{endpoint} is not this twin's server: {exc}") from None


def _g(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, int | float) and math.isfinite(x) else "n/a"


def _print(r: dict[str, Any]) -> None:
    print(
        f"forecast made at t = {r['made_at']:.4g} s, {r['horizon']:g} s ahead "
        f"(scenario {r['scenario']}, {_g(r['realtime_factor'])} x real time)"
    )
    for t in r["targets"]:
        med = t.get("median")
        if med is not None and math.isfinite(med):
            high = t.get("high")
            hi = f"{high:.4g}" if high is not None and math.isfinite(high) else "beyond"
            print(
                f"  {t['target']}: {t['question']} at t = {med:.4g} s (90 % interval "
                f"{_g(t['low'])} .. {hi} s); remaining useful life {_g(t['rul_median'])} s"
            )
        else:
            print(
                f"  {t['target']}: {t['question']}: not within the horizon "
                f"({100 * t['crossed']:.0f} % of members cross)"
            )
    sys.stdout.flush()

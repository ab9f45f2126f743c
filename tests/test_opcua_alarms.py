"""ValueServer alarms (Part 9 AlarmConditionType events) and callable methods, seen by a real
asyncua client over 127.0.0.1.

    step thread --set_alarm()--> deque --server loop--> condition node + event
                                                        -> Server (i=2253) subscribers
                                                        -> <name>/Alarms subscribers
    client --Call(Scale, a, b)--> server loop --run_in_executor--> handler(a, b)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asyncua import Client, ua
from live_helpers import free_port

from cosim.errors import BridgeError
from cosim.opcua import AlarmSpec, MethodSpec, SecuritySpec, ValueServer, generate_certificate

LEVEL = AlarmSpec("HighLevel", "tank level above its limit", source="Twin.tank.level")
SPEED = AlarmSpec("Overspeed")
RELEASE = threading.Event()  # lets the "Wait" method's handler finish


def scale(a: float, b: float) -> tuple[float, float]:
    return a * b, a + b


def fail(x: float) -> list[float]:
    raise RuntimeError("forecast FMU crashed")


def reject(x: float) -> list[float]:
    raise ValueError(f"horizon {x} must be positive")


def wait(timeout: float) -> tuple[bool, str]:
    return RELEASE.wait(timeout), "released"


METHODS = (
    MethodSpec(
        "Scale",
        scale,
        inputs=(("a", "real", "first factor"), ("b", "real", "second factor")),
        outputs=(("product", "real", "a*b"), ("sum", "real", "a+b")),
        description="product and sum of two numbers",
    ),
    MethodSpec("Fail", fail, inputs=(("x", "real", ""),), outputs=(("y", "real", ""),)),
    MethodSpec("Reject", reject, inputs=(("x", "real", ""),), outputs=(("y", "real", ""),)),
    MethodSpec(
        "Wait",
        wait,
        inputs=(("timeout", "real", "s"),),
        outputs=(("released", "boolean", ""), ("text", "string", "")),
    ),
)


def make_server(**kw: Any) -> ValueServer:
    return ValueServer(
        f"opc.tcp://127.0.0.1:{free_port()}",
        ["Twin.tank.level", "Twin.pump.speed"],
        name="twin",
        alarms=(LEVEL, SPEED),
        methods=METHODS,
        **kw,
    )


@contextmanager
def serving(**kw: Any) -> Iterator[ValueServer]:
    server = make_server(**kw)
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ValueServer]:
    with serving() as s:
        yield s


class Events:
    """asyncua subscription handler collecting events."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def event_notification(self, event: Any) -> None:
        self.events.append(event)


async def wait_events(handler: Events, n: int, timeout: float = 5.0) -> list[Any]:
    t0 = asyncio.get_running_loop().time()
    while len(handler.events) < n:
        assert asyncio.get_running_loop().time() - t0 < timeout, f"{handler.events}"
        await asyncio.sleep(0.01)
    return handler.events


async def subscribe(client: Client, node: Any) -> Events:
    handler = Events()
    sub = await client.create_subscription(10, handler)
    await sub.subscribe_events(node, ua.ObjectIds.AlarmConditionType)
    return handler


def in_step_thread(fn: Any) -> None:
    """Run fn in its own thread (the simulation's step thread) and fail if it hangs."""
    t = threading.Thread(target=fn)
    t.start()
    t.join(5.0)
    assert not t.is_alive(), "the step thread blocked"


def field(event: Any, name: str) -> Any:
    return getattr(event, name)


def test_alarm_changes_reach_server_and_folder_subscribers(server: ValueServer) -> None:
    async def main() -> None:
        async with Client(server.endpoint) as client:
            on_server = await subscribe(client, client.nodes.server)
            folder = await client.nodes.objects.get_child(["0:twin", "2:Alarms"])
            on_folder = await subscribe(client, folder)

            def steps() -> None:
                server.set_alarm(0, 1, 3.2, 10.0)
                server.set_alarm(0, 1, 3.3, 10.01)  # same level again: no event
                server.set_alarm(0, 2, 4.125, 12.5)
                server.set_alarm(0, 0, 1.0, 20.0)

            in_step_thread(steps)
            assert server.alarm_levels == (0, 0)
            events = await wait_events(on_server, 3)
            folder_events = await wait_events(on_folder, 3)
            await asyncio.sleep(0.1)  # nothing more arrives
            assert len(on_server.events) == 3 and len(on_folder.events) == 3

            condition = await folder.get_child("2:HighLevel")
            source = await client.nodes.objects.get_child(["0:twin", "2:Twin.tank.level"])
            assert [e.Severity for e in events] == [500, 800, 100]
            assert [field(e, "ActiveState/Id") for e in events] == [True, True, False]
            assert [e.Retain for e in events] == [True, True, False]
            assert [e.Message.Text for e in events] == [
                "HighLevel: warning, tank level above its limit (value 3.2 at t = 10 s)",
                "HighLevel: alarm, tank level above its limit (value 4.125 at t = 12.5 s)",
                "HighLevel: normal, tank level above its limit (value 1 at t = 20 s)",
            ]
            for e in events:
                assert e.ConditionName == "HighLevel"
                assert e.SourceName == "Twin.tank.level"
                assert e.SourceNode == source.nodeid
                assert e.NodeId == condition.nodeid  # the ConditionId
                assert e.EventType == ua.NodeId(ua.ObjectIds.AlarmConditionType)
                assert field(e, "EnabledState/Id") is True
                assert e.Time is not None and e.ReceiveTime is not None
            assert len({e.EventId for e in events}) == 3
            assert [e.EventId for e in folder_events] == [e.EventId for e in events]
            # raised and escalated need an acknowledgement; clearing keeps it pending
            assert [field(e, "AckedState/Id") for e in events] == [False, False, False]

    asyncio.run(main())


def test_condition_node_is_browsable_and_holds_the_state(server: ValueServer) -> None:
    async def main() -> None:
        async with Client(server.endpoint) as client:
            condition = await client.nodes.objects.get_child(["0:twin", "2:Alarms", "2:Overspeed"])
            type_def = await condition.read_type_definition()
            assert type_def == ua.NodeId(ua.ObjectIds.AlarmConditionType)
            active_id = await condition.get_child(["0:ActiveState", "0:Id"])
            severity = await condition.get_child("0:Severity")
            name = await condition.get_child("0:ConditionName")
            assert await name.read_value() == "Overspeed"
            server.set_alarm(1, 2, 1500.0, 3.0, message="pump over speed")
            for _ in range(500):
                if await active_id.read_value():
                    break
                await asyncio.sleep(0.01)
            assert await active_id.read_value() is True
            assert await severity.read_value() == 800
            message = await condition.get_child("0:Message")
            assert (await message.read_value()).Text == "pump over speed"
            retain = await condition.get_child("0:Retain")
            assert await retain.read_value() is True
            server.set_alarm(1, 0, 900.0, 4.0)

    asyncio.run(main())


def test_acknowledge_sets_acked_state_once() -> None:
    async def main(server: ValueServer) -> None:
        async with Client(server.endpoint) as client:
            events = await subscribe(client, client.nodes.server)
            condition = await client.nodes.objects.get_child(["0:twin", "2:Alarms", "2:HighLevel"])
            server.set_alarm(0, 2, 5.0, 1.0)
            (raised,) = await wait_events(events, 1)
            assert field(raised, "AckedState/Id") is False
            comment = ua.LocalizedText("seen")
            with pytest.raises(ua.UaStatusCodeError) as info:
                await condition.call_method("0:Acknowledge", b"not-an-event-id", comment)
            assert info.value.code == ua.StatusCodes.BadEventIdUnknown
            # through the type's method, as generic clients call it
            type_method = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
            await condition.call_method(type_method, raised.EventId, comment)
            acked = (await wait_events(events, 2))[1]
            assert field(acked, "AckedState/Id") is True
            assert field(acked, "ActiveState/Id") is True and acked.Severity == 800
            assert acked.Comment.Text == "seen"
            with pytest.raises(ua.UaStatusCodeError) as info:
                await condition.call_method("0:Acknowledge", acked.EventId, comment)
            assert info.value.code == ua.StatusCodes.BadConditionBranchAlreadyAcked
            acked_id = await condition.get_child(["0:AckedState", "0:Id"])
            assert await acked_id.read_value() is True

    with serving() as server:
        asyncio.run(main(server))


def test_set_alarm_before_start_is_applied_after_start() -> None:
    server = make_server()
    try:
        server.set_alarm(1, 1, 1.0, 0.5)
        server.set_alarm(1, 2, 2.0, 0.75)
        assert server.alarm_levels == (0, 2)
        server.start()

        async def main() -> None:
            async with Client(server.endpoint) as client:
                condition = await client.nodes.objects.get_child(
                    ["0:twin", "2:Alarms", "2:Overspeed"]
                )
                active_id = await condition.get_child(["0:ActiveState", "0:Id"])
                severity = await condition.get_child("0:Severity")
                for _ in range(500):
                    if await severity.read_value() == 800:
                        break
                    await asyncio.sleep(0.01)
                assert await severity.read_value() == 800
                assert await active_id.read_value() is True
                text = (await (await condition.get_child("0:Message")).read_value()).Text
                assert text == "Overspeed: alarm (value 2 at t = 0.75 s)"

        asyncio.run(main())
    finally:
        server.close()
    server.set_alarm(1, 0, 0.0, 1.0)  # after close: ignored, no error
    with pytest.raises(IndexError):
        server.set_alarm(2, 1, 0.0, 0.0)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        server.set_alarm(0, 3, 0.0, 0.0)


def test_set_alarm_and_publish_never_wait_for_a_busy_server_thread() -> None:
    busy, free = threading.Event(), threading.Event()

    async def block_loop() -> None:
        busy.set()
        free.wait(10.0)  # blocks the server's event loop on purpose

    async def main(server: ValueServer) -> None:
        async with Client(server.endpoint) as client:
            events = await subscribe(client, client.nodes.server)
            level = await client.nodes.objects.get_child(["0:twin", "2:Twin.tank.level"])
            assert server._thread is not None
            server._thread.submit(block_loop())
            busy.wait(5.0)

            def steps() -> None:
                for k in range(100):
                    server.set_alarm(1, k % 3, float(k), k * 0.01)
                    server.publish(np.array([k * 0.5, -1.0]))

            in_step_thread(steps)  # returns although the server thread is stuck
            free.set()
            got = await wait_events(events, 99)
            severity = {0: 100, 1: 500, 2: 800}  # k = 0 is the level it already had
            assert [e.Severity for e in got] == [severity[k % 3] for k in range(1, 100)]
            for _ in range(500):
                if await level.read_value() == 99 * 0.5:
                    break
                await asyncio.sleep(0.01)
            assert await level.read_value() == 49.5

    with serving() as server:
        try:
            asyncio.run(main(server))
        finally:
            free.set()


def test_publish_still_serves_values(server: ValueServer) -> None:
    server.publish(np.array([2.5, 1450.0]))
    server.set_alarm(0, 1, 2.5, 7.0)

    async def main() -> None:
        async with Client(server.endpoint) as client:
            speed = await client.nodes.objects.get_child(["0:twin", "2:Twin.pump.speed"])
            for _ in range(500):
                if await speed.read_value() == 1450.0:
                    break
                await asyncio.sleep(0.01)
            assert await speed.read_value() == 1450.0

    asyncio.run(main())
    server.set_alarm(0, 0, 0.0, 8.0)


def test_method_returns_the_handler_outputs(server: ValueServer) -> None:
    async def main() -> None:
        async with Client(server.endpoint) as client:
            twin = await client.nodes.objects.get_child("0:twin")
            method = await twin.get_child("2:Scale")
            args = await (await method.get_child("0:InputArguments")).read_value()
            outs = await (await method.get_child("0:OutputArguments")).read_value()
            assert [a.Name for a in args] == ["a", "b"]
            assert [a.DataType for a in args] == [ua.NodeId(ua.ObjectIds.Double)] * 2
            assert [a.Description.Text for a in outs] == ["a*b", "a+b"]
            product, total = await twin.call_method("2:Scale", 1.5, -4.0)
            assert (product, total) == (1.5 * -4.0, 1.5 + -4.0)
            # integers are accepted for real inputs
            assert await twin.call_method("2:Scale", ua.Variant(3, ua.VariantType.Int32), 2.0) == [
                6.0,
                5.0,
            ]

    asyncio.run(main())


@pytest.mark.parametrize(
    ("method", "args", "code"),
    [
        ("Fail", (1.0,), ua.StatusCodes.BadInternalError),
        ("Reject", (-1.0,), ua.StatusCodes.BadInvalidArgument),
        ("Scale", (1.0,), ua.StatusCodes.BadArgumentsMissing),
        ("Scale", (1.0, 2.0, 3.0), ua.StatusCodes.BadTooManyArguments),
        ("Scale", ("one", 2.0), ua.StatusCodes.BadInvalidArgument),
    ],
)
def test_method_errors_are_bad_status_and_the_server_keeps_serving(
    server: ValueServer, method: str, args: tuple, code: int
) -> None:
    value = float(len(method) + len(args))
    server.publish(np.array([value, 0.0]))

    async def main() -> None:
        async with Client(server.endpoint) as client:
            twin = await client.nodes.objects.get_child("0:twin")
            with pytest.raises(ua.UaStatusCodeError) as info:
                await twin.call_method(f"2:{method}", *args)
            assert info.value.code == code
            level = await twin.get_child(["2:Twin.tank.level"])
            wait_until = asyncio.get_running_loop().time() + 5.0
            while await level.read_value() != value:
                assert asyncio.get_running_loop().time() < wait_until
                await asyncio.sleep(0.01)
            assert await twin.call_method("2:Scale", 2.0, 3.0) == [6.0, 5.0]

    asyncio.run(main())


def test_slow_handler_does_not_stop_publishing_or_other_clients(server: ValueServer) -> None:
    """asyncua serves one connection's requests in order, so the caller waits; everybody
    else (the publish loop, other clients) goes on while the handler runs."""
    RELEASE.clear()

    async def main() -> None:
        async with Client(server.endpoint) as caller, Client(server.endpoint) as other:
            twin = await caller.nodes.objects.get_child("0:twin")
            call = asyncio.ensure_future(twin.call_method("2:Wait", 10.0))
            await asyncio.sleep(0.1)
            assert not call.done()
            level = await other.nodes.objects.get_child(["0:twin", "2:Twin.tank.level"])
            server.publish(np.array([-7.25, 0.0]))  # served while the handler still runs
            while await level.read_value() != -7.25:
                assert not call.done()
                await asyncio.sleep(0.01)
            assert not call.done()
            RELEASE.set()
            assert await asyncio.wait_for(call, 5.0) == [True, "released"]

    try:
        asyncio.run(main())
    finally:
        RELEASE.set()


def test_methods_over_a_secure_endpoint_need_the_login(tmp_path: Path, monkeypatch) -> None:
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

    for name in ("plant", "twin"):
        generate_certificate(
            tmp_path / f"{name}.der", tmp_path / f"{name}.pem", application_uri=f"urn:test:{name}"
        )
    monkeypatch.setenv("COSIM_TEST_ALARM_PW", "s3cret")
    security = SecuritySpec(
        mode="SignAndEncrypt",
        certificate=tmp_path / "plant.der",
        private_key=tmp_path / "plant.pem",
        username="operator",
        password_env="COSIM_TEST_ALARM_PW",
    )

    async def connect(endpoint: str, password: str) -> Client:
        client = Client(endpoint)
        client.application_uri = "urn:test:twin"
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=str(tmp_path / "twin.der"),
            private_key=str(tmp_path / "twin.pem"),
            server_certificate=str(tmp_path / "plant.der"),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )
        client.set_user("operator")
        client.set_password(password)
        await client.connect()
        return client

    async def main(server: ValueServer) -> None:
        client = await connect(server.endpoint, "s3cret")
        try:
            twin = await client.nodes.objects.get_child("0:twin")
            assert await twin.call_method("2:Scale", 0.5, 4.0) == [2.0, 4.5]
            events = await subscribe(client, client.nodes.server)
            server.set_alarm(0, 1, 1.0, 1.0)
            (event,) = await wait_events(events, 1)
            assert event.Severity == 500
        finally:
            await client.disconnect()
        with pytest.raises(ua.UaStatusCodeError):
            await connect(server.endpoint, "wrong")

    with serving(security=security) as server:
        asyncio.run(main(server))


def test_bad_declarations_are_refused() -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    with pytest.raises(BridgeError, match="'Twin.nowhere', which is not served"):
        ValueServer(endpoint, ["Twin.x"], alarms=[AlarmSpec("A", source="Twin.nowhere")])
    with pytest.raises(BridgeError, match="alarm.*declared twice: A"):
        ValueServer(endpoint, alarms=[AlarmSpec("A"), AlarmSpec("A")])
    with pytest.raises(BridgeError, match="kind 'complex'"):
        ValueServer(endpoint, methods=[MethodSpec("M", scale, inputs=(("z", "complex", ""),))])

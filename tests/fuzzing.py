"""A seeded fuzzer of cosim's inputs (issue 14): mutated system files and FMU archives.

Each case is one file written into a work folder and one command run on it in this process
(`cosim validate`, `inspect` or a short `run`) through `cosim.cli.main`, with its output
captured. The outcome is

    ok          exit 0
    bad input   exit 2 with a message and no traceback
    failure     exit 1 (a run that failed cleanly)
    traceback   an exception escaped the command line, or "Traceback" in its output
    hang        the case ran longer than its time limit (SIGALRM)

Only the last two are bugs. Mutations are drawn from `random.Random(seed)`, so a case is
reproduced from its seed and index alone (`Case.seed`, `Case.index`); `Fuzzer.write` keeps the
file of a case that failed. The seeds are the repository's own systems and bundled FMUs.

Used by tests/test_fuzz.py (a few hundred cases) and bench/fuzz.py (10,000 cases).
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import signal
import struct
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("ok", "bad input", "failure", "traceback", "hang")

# values that have broken parsers before, by kind
HOSTILE_SCALARS = [
    None, True, False, 0, -1, 1, 2**31, 2**32, 2**63, -(2**63) - 1, 10**400, 1e308, 1e-320,
    float("inf"), float("-inf"), float("nan"), -0.0, "", " ", "0", "1e400", "-1e400", "nan",
    "inf", "x" * 5000, "\u202e\u0000", "a\x00b", "../../../../etc/passwd", "/dev/zero",
    "/dev/null", "~", "${HOME}", "%s%s%s", "{}", "[]", "null", "yes", "no", "0x1F", "1_000",
    "2001-12-14t21:59:43.10-05:00", "é" * 50, "\t", "\n\n", "\\", '"', "'", "*", "&", "!",
    "Mass1", "fmi3/Mass1", "special/Types3", "opc.tcp://", "opc.tcp://127.0.0.1:0",
    "opc.tcp://[::1]:99999", "ns=2;s=", "ns=-1;i=0", "nsu=;i=1", "i=", "a.b.c.d", ".", "..",
]  # fmt: skip
TOKENS = [
    "[", "]", "{", "}", ":", "- ", "&a ", "*a", "!!bool ", "!!int ", "!!float ", "!!binary ",
    "!!timestamp ", "!!set ", "!!omap ", "!!python/object:os.system ", "!custom ", "<<: *a",
    "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "? ", "|\n", ">-\n", "#", "'", '"',
    "\\x00", "\t", "\x00", "\ufeff", "\r", "\u2028", ",", "@", "`", "%", "1e400", "-.inf",
    ".nan", "0o777", "0b101", "~", "=", "\n  ", "\n- ", ": &b [*b]",
]  # fmt: skip
XML_ATTRS = [
    "valueReference", "start", "causality", "variability", "initial", "fmiVersion", "guid",
    "instantiationToken", "modelIdentifier", "numberOfEventIndicators", "stepSize",
    "startTime", "stopTime", "tolerance", "derivative", "index", "declaredType", "unit",
    "min", "max", "nominal", "dependencies", "name", "start",
    "canHandleVariableCommunicationStepSize",
]  # fmt: skip
XML_VALUES = [
    "", "-1", "4294967296", "1e20", "1e400", "-1e400", "NaN", "INF", "abc", "1.5", "0", "00001",
    "99999999999999999999", "true", "maybe", "x" * 3000, "&amp;", "&lt;", "\u0000", "&#0;",
    "&#x110000;", "parameter", "input", "output", "local", "independent", "structuralParameter",
    "constant", "fixed", "tunable", "discrete", "continuous", "exact", "approx", "calculated",
    "1 2 3", "1,2", " ", "2.0", "3.0", "1.0", "{}", "-0", "+5", "0x10",
]  # fmt: skip
XML_SNIPPETS = [
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    "<![CDATA[x]]>", "<!-- -->", "<?pi x?>", "&e;", "&d;", "</fmiModelDescription>", "<",
    ">", "\x00", "<ScalarVariable/>", '<ScalarVariable name="n" valueReference="1"/>',
    "<ModelVariables/>", "<Float64/>", '<Float64 name="" valueReference=""/>',
    "<Dimension/>", '<Dimension start="1000000000"/>', '<Dimension valueReference="999"/>',
    "<Unknown index=\"0\"/>", '<Unknown index="99999"/>', '<Output valueReference="77777"/>',
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One fuzz case: where it came from and what to run on it."""

    seed: int
    index: int
    kind: str  # "system" | "fmu"
    origin: str  # the seed file it was mutated from
    mutation: str  # what was done to it
    data: bytes  # the file's content
    command: str  # "validate" | "inspect" | "run"


@dataclass
class Result:
    """What running one case gave."""

    case: Case
    outcome: str
    exit_code: int | None
    signature: str = ""  # for tracebacks: the exception type and the innermost cosim frame
    output: str = ""


@dataclass
class Report:
    """The counts over many cases, and the failing ones."""

    outcomes: Counter = field(default_factory=Counter)
    by_command: Counter = field(default_factory=Counter)
    signatures: Counter = field(default_factory=Counter)
    bugs: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.outcomes[result.outcome] += 1
        self.by_command[(result.case.kind, result.case.command, result.outcome)] += 1
        if result.outcome in ("traceback", "hang"):
            self.signatures[result.signature] += 1
            self.bugs.append(result)


# ------------------------------------------------------------------ the seeds
def seed_systems() -> dict[str, str]:
    """The repository's systems, their FMU paths made absolute (so they resolve anywhere)."""
    out = {}
    for path in sorted((ROOT / "systems").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        out[path.name] = text.replace("../fmus/", f"{ROOT}/fmus/")
    return out


def seed_fmus() -> dict[str, bytes]:
    """Bundled FMUs (FMI 2.0 and 3.0), built if missing."""
    from cosim.library.build import bundled_fmu

    return {name: bundled_fmu(name).read_bytes() for name in ("Gain", "fmi3/Gain", "Mass1")}


# ------------------------------------------------------------------ mutations of text
def _text_mutation(rng: random.Random, text: str) -> tuple[str, str]:
    """One character-level mutation of `text`: (the new text, what was done)."""
    n = len(text)
    what = rng.choice(("insert", "delete", "replace", "duplicate", "truncate", "swap lines"))
    at = rng.randrange(n + 1)
    if what == "insert":
        token = rng.choice(TOKENS)
        token = token * rng.choice((1, 1, 1, 2, 50, 700))
        return text[:at] + token + text[at:], f"insert {token[:20]!r}x at {at}"
    if what == "delete":
        k = rng.choice((1, 1, 2, 5, 40))
        return text[:at] + text[at + k :], f"delete {k} at {at}"
    if what == "replace":
        token = rng.choice(TOKENS)
        return text[:at] + token + text[at + len(token) :], f"replace at {at} by {token!r}"
    if what == "duplicate":
        k = rng.choice((5, 50, 500))
        return text[:at] + text[at : at + k] * rng.choice((2, 10)) + text[at:], f"dup at {at}"
    if what == "truncate":
        return text[:at], f"truncate at {at}"
    lines = text.splitlines(keepends=True)
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines), "swap lines"


def _nodes(data: object, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _nodes(v, (*path, i))


def _hostile_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if roll < 0.6 or depth > 2:
        return rng.choice(HOSTILE_SCALARS)
    if roll < 0.75:
        return [_hostile_value(rng, depth + 1) for _ in range(rng.choice((0, 1, 3)))]
    if roll < 0.9:
        keys = ["fmu", "from", "to", "stop", "step", "node", "name", "x", "", "1"]
        return {
            rng.choice(keys): _hostile_value(rng, depth + 1) for _ in range(rng.choice((0, 1, 2)))
        }
    nested: object = "x"
    for _ in range(rng.choice((50, 200, 1500))):
        nested = [nested]
    return nested


def _tree_mutation(rng: random.Random, text: str) -> tuple[str, str]:
    """One structural mutation: a node replaced, dropped or given an unknown sibling."""
    data = yaml.safe_load(text)
    nodes = list(_nodes(data))
    path, _ = rng.choice(nodes)
    if not path:
        return yaml.safe_dump(_hostile_value(rng), allow_unicode=True), "whole document"
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    what = rng.choice(("replace", "replace", "delete", "add"))
    if what == "delete":
        del parent[key]
    elif what == "add" and isinstance(parent, dict):
        parent[rng.choice(("fmuu", "stpe", "x", "", "inputs", "record", "events"))] = (
            _hostile_value(rng)
        )
    else:
        parent[key] = _hostile_value(rng)
    try:
        out = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        out = text
    return out, f"{what} {'.'.join(map(str, path))[:80]}"


def mutate_system(rng: random.Random, text: str) -> tuple[str, str]:
    """1-3 mutations of a system file, text- or tree-level."""
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        try:
            if rng.random() < 0.5:
                text, what = _tree_mutation(rng, text)
            else:
                text, what = _text_mutation(rng, text)
        except Exception:  # noqa: BLE001 - the seed no longer parses (e.g. `!!int x`): by text
            text, what = _text_mutation(rng, text)
        done.append(what)
    return text, "; ".join(done)


# ------------------------------------------------------------------ mutations of FMUs
def _xml_mutation(rng: random.Random, xml: str) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.45:
        attrs = [m for m in re.finditer(r'(\w+)="([^"]*)"', xml) if m.group(1) in XML_ATTRS]
        if attrs:
            m = rng.choice(attrs)
            value = rng.choice(XML_VALUES)
            new = xml[: m.start(2)] + value.replace('"', "&quot;") + xml[m.end(2) :]
            return new, f"{m.group(1)}={value[:20]!r}"
    if roll < 0.6:
        at = rng.randrange(len(xml) + 1)
        snippet = rng.choice(XML_SNIPPETS)
        if snippet.startswith("<!DOCTYPE"):  # a DTD goes after the XML declaration
            end = xml.find("?>") + 2
            return xml[:end] + snippet + xml[end:], f"doctype {snippet[:30]!r}"
        return xml[:at] + snippet + xml[at:], f"insert {snippet[:30]!r} at {at}"
    if roll < 0.7:  # drop one element
        elements = list(re.finditer(r"<(\w+)[^>]*/>", xml))
        if elements:
            m = rng.choice(elements)
            return xml[: m.start()] + xml[m.end() :], f"drop <{m.group(1)}/>"
    if roll < 0.8:  # duplicate a variable
        variables = list(re.finditer(r"<ScalarVariable.*?</ScalarVariable>\s*", xml, re.S))
        variables += list(re.finditer(r"<Float64 [^>]*/>\s*", xml))
        if variables:
            m = rng.choice(variables)
            return xml[: m.end()] + m.group(0) * rng.choice((1, 2, 300)) + xml[m.end() :], "dup var"
    text, what = _text_mutation(rng, xml)
    return text, "xml " + what


def _zip_mutation(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Byte-level damage to the archive itself (not only its members' content)."""
    buf = bytearray(data)
    what = rng.choice(("flip", "flip", "truncate", "garbage", "lie size", "lie name", "lie crc"))
    if what == "flip":
        for _ in range(rng.choice((1, 4, 64))):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf), "flip bits"
    if what == "truncate":
        return bytes(buf[: rng.randrange(len(buf))]), "truncate archive"
    if what == "garbage":
        at = rng.randrange(len(buf))
        return bytes(buf[:at] + bytes(rng.randrange(256) for _ in range(64)) + buf[at:]), "garbage"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = rng.choice(zf.infolist())
    if what == "lie size":
        old = struct.pack("<I", info.file_size)
        new = struct.pack("<I", rng.choice((0, 1, info.file_size * 7, 2**32 - 1)))
        return bytes(buf).replace(old, new, rng.choice((1, 2))), f"size of {info.filename}"
    if what == "lie crc":
        old = struct.pack("<I", info.CRC)
        return bytes(buf).replace(old, struct.pack("<I", info.CRC ^ 0x1), 2), "crc"
    old = info.filename.encode()
    new = rng.choice((b"../../x", b"/abs", b"C:\\x", b"..\\..\\y", b"a/../../b"))
    new = (new + b"_" * len(old))[: len(old)]
    return bytes(buf).replace(old, new, 1), f"name of {info.filename}"


def mutate_fmu(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """An FMU with its modelDescription.xml mutated (re-zipped), or its archive damaged."""
    if rng.random() < 0.3:
        return _zip_mutation(rng, data)
    src = zipfile.ZipFile(io.BytesIO(data))
    xml = src.read("modelDescription.xml").decode("utf-8")
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        xml, what = _xml_mutation(rng, xml)
        done.append(what)
    out = io.BytesIO()
    with src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "modelDescription.xml":
                body = xml.encode("utf-8", "surrogatepass")
            dst.writestr(info, body)
    return out.getvalue(), "; ".join(done)


# ------------------------------------------------------------------ cases and running them
def cases(seed: int, count: int) -> Iterator[Case]:
    """`count` cases from `seed`: two in three mutate a system file, one in three an FMU."""
    systems, fmus = seed_systems(), seed_fmus()
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        if rng.random() < 2 / 3:
            origin = rng.choice(sorted(systems))
            text, mutation = mutate_system(rng, systems[origin])
            command = "run" if rng.random() < 0.1 else "validate"
            data = text.encode("utf-8", "surrogatepass")
            yield Case(seed, index, "system", origin, mutation, data, command)
        else:
            origin = rng.choice(sorted(fmus))
            data, mutation = mutate_fmu(rng, fmus[origin])
            command = rng.choice(("validate", "validate", "inspect"))
            yield Case(seed, index, "fmu", origin, mutation, data, command)


class _Hang(BaseException):
    """Raised by SIGALRM in a case that overran its limit."""


def _alarm(signum: int, frame: object) -> None:
    raise _Hang()


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/cosim/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


class Fuzzer:
    """Runs cases in this process, each in its own file under `work`."""

    def __init__(self, work: Path, time_limit: float = 30.0) -> None:
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.time_limit = time_limit
        self._gain = None

    def write(self, case: Case) -> list[str]:
        """Write the case's files; the command line (after `cosim`) that runs it."""
        if case.kind == "system":
            path = self.work / f"case{case.index}.yaml"
            path.write_bytes(case.data)
            if case.command == "run":
                out = self.work / f"run{case.index}"
                return ["run", str(path), "--stop", "0.01", "--out", str(out), "--force", "--quiet"]
            return ["validate", str(path)]
        fmu = self.work / f"case{case.index}.fmu"
        fmu.write_bytes(case.data)
        if case.command == "inspect":
            return ["inspect", str(fmu)]
        path = self.work / f"case{case.index}.yaml"
        path.write_text(
            "simulation: {stop: 0.01, step: 0.001}\n"
            f"components:\n  a: {{fmu: {fmu.name}}}\n  b: {{fmu: {fmu.name}}}\n"
        )
        return ["validate", str(path)]

    def run(self, case: Case, keep: bool = False) -> Result:
        from cosim.cli import main
        from cosim.resolve import resolver

        argv = self.write(case)
        out = io.StringIO()
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.time_limit)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = main(argv)
            text = out.getvalue()
            if "Traceback (most recent call last)" in text:
                result = Result(case, "traceback", code, "printed traceback", text[-2000:])
            else:
                outcome = {0: "ok", 1: "failure", 2: "bad input"}.get(code, "traceback")
                result = Result(case, outcome, code, f"exit {code}", text[-2000:])
        except _Hang:
            result = Result(
                case, "hang", None, f"over {self.time_limit:g} s", out.getvalue()[-2000:]
            )
        except BaseException as exc:  # noqa: BLE001 - any escape is what we look for
            if isinstance(exc, KeyboardInterrupt):
                raise
            code = exc.code if isinstance(exc, SystemExit) else None
            if isinstance(exc, SystemExit) and code in (0, 2):
                result = Result(case, "ok" if code == 0 else "bad input", code)
            else:
                tb = "".join(traceback.format_exception(exc))
                result = Result(case, "traceback", None, _signature(exc), tb[-3000:])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            resolver._CACHE.clear()  # every case is a new file: do not keep them all
            resolver._MEMBERS.clear()
        if not keep and result.outcome not in ("traceback", "hang"):
            for p in self.work.glob(f"case{case.index}.*"):
                p.unlink(missing_ok=True)
        return result

    def run_all(
        self, seed: int, count: int, progress: Callable[[int, Result], None] | None = None
    ) -> Report:
        report = Report()
        for i, case in enumerate(cases(seed, count)):
            result = self.run(case)
            report.add(result)
            if progress is not None:
                progress(i, result)
        return report


__all__ = ["OUTCOMES", "Case", "Fuzzer", "Report", "Result", "cases"]

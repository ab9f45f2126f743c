"""SSP's XML files parsed safely (no DTD, no entities, no network), with file:line:col of nodes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from cosim.errors import Location
from cosim.io.locate import Problems, did_you_mean, listing
from cosim.ssp import names

MAX_XML_BYTES = 64 * 1024**2  # an .ssd/.ssv/.ssm larger than this is refused


def local(tag: Any) -> str:
    """The local name of an lxml tag ("" for comments and processing instructions)."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def namespace(tag: Any) -> str:
    if not isinstance(tag, str) or not tag.startswith("{"):
        return ""
    return tag[1:].partition("}")[0]


def kind_of(el: Any) -> str:
    """The SSP file kind of an element's namespace: ssd, ssc, ssv, ssm, ssb (or "")."""
    return names.KIND_OF_NAMESPACE.get(namespace(el.tag), "")


def children(el: Any) -> list[Any]:
    """The child elements (no comments or processing instructions)."""
    return [c for c in el if isinstance(c.tag, str)]


class Report(Problems):
    """Collects errors and warnings (each a Problem at file:line:col)."""

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.items)

    def errors_since(self, mark: int) -> bool:
        return any(p.severity == "error" for p in self.items[mark:])


@dataclass
class XmlFile:
    """One parsed XML file: its root element, the name messages show, its text lines."""

    root: Any
    file: str  # as messages name it (e.g. `system.ssp!/SystemStructure.ssd`)
    text: str
    lines: list[str] = field(default_factory=list)

    def loc(self, el: Any = None, attr: str | None = None) -> Location:
        """Where `el` (or its attribute `attr`) is written; col of its `<` or of `attr=`."""
        if el is None or not getattr(el, "sourceline", None):
            return Location(self.file, 1, 1) if el is not None else Location(self.file)
        line = el.sourceline
        qname = _qname(el)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        col = text.find("<" + qname)
        if attr is not None:
            pattern = re.compile(r"(?<![\w:.-])" + re.escape(attr) + r"\s*=")
            start = col if col >= 0 else 0
            for n in range(line, min(line + 40, len(self.lines)) + 1):
                row = self.lines[n - 1]
                found = pattern.search(row, start if n == line else 0)
                if found:
                    return Location(self.file, n, found.start() + 1)
                if n > line and "<" in row:  # the next element starts: the attribute is absent
                    break
        return Location(self.file, line, col + 1 if col >= 0 else 1)


def _qname(el: Any) -> str:
    prefix = el.prefix
    return f"{prefix}:{local(el.tag)}" if prefix else local(el.tag)


def parse_xml(data: bytes, file: str, report: Report) -> XmlFile | None:
    """Parse `data` (one SSP XML file) safely; None (with the problem reported) if it fails.

    lxml parses with entities unresolved, no DTD loading and no network; a document with a
    DOCTYPE is refused outright (SSP files never need one, and a DTD is how entity bombs and
    external entities get in).
    """
    from lxml import etree

    if not data.strip():
        report.error(Location(file, 1, 1), "the file is empty", "an SSP XML file starts with <?xml")
        return None
    if len(data) > MAX_XML_BYTES:
        report.error(Location(file), f"the file is larger than {MAX_XML_BYTES} bytes; refused")
        return None
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, col = getattr(exc, "position", (0, 0)) or (0, 0)
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        message = re.sub(r", line \d+, column \d+$", "", message)
        report.error(Location(file, line or 1, col or 1), f"not well-formed XML: {message}")
        return None
    except (ValueError, etree.LxmlError) as exc:  # e.g. an encoding declaration lxml refuses
        report.error(Location(file, 1, 1), f"not well-formed XML: {exc}")
        return None
    if root is None:
        report.error(Location(file, 1, 1), "the file holds no XML element")
        return None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        report.error(
            Location(file, 1, 1),
            "the file has a DOCTYPE (document type definition); refused",
            "SSP files never need a DTD; entity definitions in one can expand without bound "
            "or read other files, so cosim does not read them",
        )
        return None
    text = data.decode("utf-8", errors="replace")
    return XmlFile(root, file, text, text.splitlines())


# --------------------------------------------------------------------------- attribute values
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def number(
    x: XmlFile, el: Any, attr: str, report: Report, default: float | None = None
) -> float | None:
    """The xs:double attribute `attr` of `el` (default if absent; None, reported, if bad)."""
    raw = el.get(attr)
    if raw is None:
        return default
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        report.error(x.loc(el, attr), f"{attr}={raw!r} is not a number", "write e.g. 0.001")
        return None
    if not math.isfinite(value) and text.upper() not in ("INF", "-INF", "+INF", "NAN"):
        report.error(x.loc(el, attr), f"{attr}={raw!r} is not a number", "write e.g. 0.001")
        return None
    if not math.isfinite(value):
        report.error(x.loc(el, attr), f"{attr}={raw!r} must be a finite number")
        return None
    return value


def integer(x: XmlFile, el: Any, attr: str, report: Report) -> int | None:
    raw = el.get(attr)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        report.error(x.loc(el, attr), f"{attr}={raw!r} is not an integer")
        return None


def boolean(
    x: XmlFile, el: Any, attr: str, report: Report, default: bool | None = None
) -> bool | None:
    raw = el.get(attr)
    if raw is None:
        return default
    text = raw.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    report.error(x.loc(el, attr), f"{attr}={raw!r} is not a boolean", "write true or false")
    return None


def required(x: XmlFile, el: Any, attr: str, report: Report, what: str = "") -> str | None:
    """The attribute `attr`, or None with an error if it is absent or empty."""
    raw = el.get(attr)
    if raw is None or not raw.strip():
        what = what or f"<{_qname(el)}>"
        report.error(
            x.loc(el),
            f"{what} has no {attr}" if raw is None else f"{what} has an empty {attr}",
            f'add {attr}="..."',
        )
        return None
    return raw


def unknown_child(
    x: XmlFile, el: Any, child: Any, allowed: list[str], report: Report, where: str = ""
) -> None:
    """Report a child element of `el` that the standard does not define there."""
    name = local(child.tag)
    close = did_you_mean(name, allowed)
    report.error(
        x.loc(child),
        f"unknown element <{_qname(child)}> in <{_qname(el)}>" + (f" ({where})" if where else ""),
        (f"did you mean <{close}>? " if close else "") + f"allowed here: {listing(allowed)}",
    )


def children_named(x: XmlFile, el: Any, tag: str, report: Report) -> list[Any]:
    """The child elements of `el` called `tag`; any other child is reported (unknown_child)."""
    out = []
    for child in children(el):
        if local(child.tag) == tag:
            out.append(child)
        else:
            unknown_child(x, el, child, [tag], report)
    return out


__all__ = [
    "MAX_XML_BYTES",
    "Report",
    "XmlFile",
    "boolean",
    "children",
    "children_named",
    "integer",
    "kind_of",
    "local",
    "namespace",
    "number",
    "parse_xml",
    "required",
    "unknown_child",
]

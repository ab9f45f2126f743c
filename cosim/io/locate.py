"""The one YAML locator, "did you mean" and problem collector that every section parser uses.

A parser reads plain data (dicts, lists, scalars) and reports each problem at a *node path*
such as ``("opcua", "inputs", 0, "to")``; a `Locator` turns that path into file:line:col. It
indexes the composed YAML document once (no Python objects are constructed), so the four
parsers (system, opcua, plant, regression) share one index per file.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import stat
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from cosim.errors import ConfigError, Location, Problem

Path_ = tuple[str | int, ...]
_MAX_ENTRIES = 200_000  # an alias bomb is reported by the reader; the index just stops growing


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.5) -> str | None:
    """The candidate closest to `name` if its similarity ratio is at least `cutoff`.

    Ties go to the candidate listed first.
    """
    scored = [
        (difflib.SequenceMatcher(None, name, c).ratio(), -i, c) for i, c in enumerate(candidates)
    ]
    best = max(scored, default=None)
    return best[2] if best is not None and best[0] >= cutoff else None


def where(path: Sequence[str | int]) -> str:
    """A node path as a message names it: ("plant", "serve", 0, "node") -> plant.serve[0].node."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def unreadable(path: os.PathLike[str], limit: int) -> str | None:
    """Why the file `path` is not to be read whole (a device, FIFO or socket, which may block or
    never end; more than `limit` bytes), or None. OSError if it cannot be looked at."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):  # read_text says so itself, with its own message
        return None
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a device, FIFO or socket)"
    if info.st_size > limit:
        return f"{info.st_size / 1024**2:.0f} MiB, more than the {limit // 1024**2} MiB cosim reads"
    return None


def finite_number(value: Any) -> bool:
    """Whether `value` is an int or float (not a bool) that is a finite float: YAML integers
    have no size limit, and 10**400 is not a number of seconds, samples or anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def as_dict(value: Any) -> dict:
    """`value` if it is a mapping, else {} (a wrong type the schema walk has reported)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """`value` if it is a list, else [] (a wrong type the schema walk has reported)."""
    return value if isinstance(value, list) else []


def listing(names: Iterable[str], limit: int = 12) -> str:
    """Names joined by commas, the first `limit` of them ("(none)" if there are none)."""
    names = list(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "(none)"


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """File order (line, column); problems without a line (e.g. --set) last, stable."""
    return sorted(
        problems,
        key=lambda p: (
            not (p.loc and p.loc.line),
            p.loc and p.loc.line or 0,
            p.loc and p.loc.col or 0,
        ),
    )


class Locator:
    """file:line:col of every key and value of one YAML document, by node path.

    `key(*path)` is where the key of the last path part is written (for a list item: the
    item); `value(*path)` is where its value starts. A path that is not in the document falls
    back to its nearest written ancestor, then to the file itself.
    """

    def __init__(self, text: str | None, file: str, root: yaml.Node | None = None) -> None:
        """Index `root` (the composed `text`), or compose `text` here if no root is given."""
        self.file = file
        self._keys: dict[Path_, Location] = {}
        self._values: dict[Path_, Location] = {}
        if root is None and text:
            # a syntax error is the reader's to report; without marks we only lose lines
            with contextlib.suppress(yaml.YAMLError):
                root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            self._walk(root, ())

    def _loc(self, mark: yaml.Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        stack = [(node, path)]
        while stack and len(self._values) < _MAX_ENTRIES:
            node, path = stack.pop()
            self._values[path] = self._loc(node.start_mark)
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                        child = (*path, key.value)
                        self._keys.setdefault(child, self._loc(key.start_mark))
                        stack.append((value, child))
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    self._keys.setdefault((*path, i), self._loc(item.start_mark))
                    stack.append((item, (*path, i)))

    def _find(self, path: Path_, first: dict, second: dict) -> Location:
        path = tuple(path)
        while path:
            found = first.get(path) or second.get(path)
            if found is not None:
                return found
            path, first, second = path[:-1], self._keys, self._values
        return Location(self.file)

    def key(self, *path: str | int) -> Location:
        """Where the key at `path` is written (see the class docstring for the fallbacks)."""
        return self._find(tuple(_text(p) for p in path), self._keys, self._values)

    def value(self, *path: str | int) -> Location:
        """Where the value at `path` starts (see the class docstring for the fallbacks)."""
        return self._find(tuple(_text(p) for p in path), self._values, self._keys)

    __call__ = key

    def has(self, *path: str | int) -> bool:
        """Whether `path` is written in the document."""
        return tuple(_text(p) for p in path) in self._values


def _text(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else str(part)


_CACHE: OrderedDict[tuple[str, str | None], Locator] = OrderedDict()
_CACHE_SIZE = 16


def locator(text: str | None, file: str, root: yaml.Node | None = None) -> Locator:
    """The Locator of `text` (read as the file `file`), built once per document.

    The YAML reader passes the `root` it composed, so the section parsers reuse its index.
    """
    key = (file, text)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = Locator(text, file, root)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return found


class Problems:
    """Collects errors and warnings, each placed by a node path (through a Locator) or a Location.

    `root` is prefixed to every path, so a section parser writes paths inside its section.
    """

    def __init__(self, locate: Locator | None = None, root: Sequence[str | int] = ()) -> None:
        self.locate = locate
        self.root = tuple(root)
        self.items: list[Problem] = []

    def at(self, path: Sequence[str | int] | Location | None) -> Location | None:
        """The Location of a path inside the section (a Location or None passes through)."""
        if path is None or isinstance(path, Location):
            return path
        if self.locate is None:
            return None
        return self.locate.key(*self.root, *path)

    def where(self, path: Sequence[str | int] = ()) -> str:
        """The path (inside the section) as messages name it, e.g. opcua.inputs[0].to."""
        return where((*self.root, *path))

    def error(
        self, path: Sequence[str | int] | Location | None, message: str, hint: str = ""
    ) -> None:
        self.items.append(Problem(self.at(path), message, hint))

    def warn(
        self, path: Sequence[str | int] | Location | None, message: str, hint: str = ""
    ) -> None:
        self.items.append(Problem(self.at(path), message, hint, severity="warning"))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.items)

    def errors_since(self, mark: int) -> bool:
        """Whether an error was added after the first `mark` problems."""
        return any(p.severity == "error" for p in self.items[mark:])

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.items if p.severity == "warning")

    def sorted(self) -> list[Problem]:
        return sort_problems(self.items)

    def raise_errors(self) -> None:
        """Raise one ConfigError holding every problem (sorted) if any of them is an error."""
        if self.has_errors:
            raise ConfigError(self.sorted())


__all__ = [
    "Locator",
    "Problems",
    "did_you_mean",
    "listing",
    "locator",
    "sort_problems",
    "where",
]

"""`cosim schema` covers every section: each key a parser accepts is in the schema, and back.

The key tables come from the parsers themselves (cosim.io.opcua.KEYS, cosim.io.plant.KEYS,
cosim.verify.regression.KEYS / TOLERANCE_KEYS), so a key added to a parser but not to the
schema (or the other way round) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.io import opcua, plant
from cosim.io.schema import EXTRA_SECTIONS, SCHEMA
from cosim.io.yaml import _check, _parse, _Report
from cosim.verify import regression

ROOT = Path(__file__).resolve().parents[1]


def _objects(schema: dict, path: str):
    """(path, keys) of every object schema with properties, "[]" for items/mapping values."""
    if "properties" in schema:
        yield path, tuple(schema["properties"])
        for key, sub in schema["properties"].items():
            yield from _objects(sub, f"{path}.{key}")
    for word in ("items", "additionalProperties"):
        if isinstance(schema.get(word), dict):
            yield from _objects(schema[word], f"{path}[]")


def parser_keys() -> dict[str, set[str]]:
    tables = {
        **opcua.KEYS,
        **plant.KEYS,
        "plant.security": opcua.KEYS["opcua.serve.security"],  # check_security(side="server")
        "regression": regression.KEYS,
        "regression.tolerances[]": regression.TOLERANCE_KEYS,
    }
    return {path: set(keys) for path, keys in tables.items()}


def schema_keys() -> dict[str, set[str]]:
    out = {}
    for section in EXTRA_SECTIONS:
        for path, keys in _objects(SCHEMA["properties"][section], section):
            out[path] = set(keys)
    return out


def test_every_key_a_section_parser_accepts_is_in_the_schema_and_back():
    assert schema_keys() == parser_keys()


def test_every_section_key_has_a_type_or_enum_and_a_description():
    def walk(schema: dict, path: str):
        for key, sub in schema.get("properties", {}).items():
            yield f"{path}.{key}", sub
            yield from walk(sub, f"{path}.{key}")
        for word in ("items", "additionalProperties"):
            if isinstance(schema.get(word), dict):
                yield from walk(schema[word], f"{path}[]")

    for section in EXTRA_SECTIONS:
        keys = list(walk(SCHEMA["properties"][section], section))
        assert len(keys) > 5, section
        for name, sub in keys:
            assert sub.get("description"), name
            assert "type" in sub or "enum" in sub, name


def _schema_problems(text: str, file: str) -> list:
    report = _Report()
    root = _parse(text, file, report)
    assert root is not None, report.problems
    _check(root, SCHEMA, (), report)
    return report.problems


@pytest.mark.parametrize("path", sorted((ROOT / "systems").glob("*.yaml")), ids=lambda p: p.name)
def test_the_bundled_systems_validate_against_the_whole_schema(path: Path):
    assert _schema_problems(path.read_text(), str(path)) == []


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("stale_after:", "stale_afte:", "unknown key 'stale_afte' in opcua.inputs[0]"),
        ("on_disconnect: hold", "on_disconnect: wait", "opcua.on_disconnect must be one of"),
        ("connect_timeout: 15", "connect_timeout: soon", "opcua.connect_timeout must be a number"),
    ],
)
def test_the_schema_catches_mistakes_in_the_twin_section(before: str, after: str, message: str):
    """An editor using `cosim schema` flags these (and the system files do contain the keys)."""
    path = ROOT / "systems" / "ema_twin.yaml"
    text = path.read_text()
    assert before in text
    problems = _schema_problems(text.replace(before, after, 1), str(path))
    assert any(message in p.message for p in problems), [str(p) for p in problems]

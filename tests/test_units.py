"""Unit conversion, checked against the units' definitions (1 km = 1000 m, 0 degC = 273.15 K)."""

from __future__ import annotations

import math

import pytest
from fmpy import read_model_description

from cosim.errors import ConfigError
from cosim.library import build as library
from cosim.resolve.units import BASE_UNITS, Unit, conversion, find_unit, unit_definitions

# Conversion factors are products/quotients of a few exact decimal constants, so they agree
# with the references to a few ulp; 1e-12 relative leaves room without hiding a wrong factor.
REL = 1e-12


def convert(value: float, from_unit: str, to_unit: str, *defs) -> float:
    gain, offset = conversion(from_unit, to_unit, *defs)
    return gain * value + offset


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        (36.0, "km/h", "m/s", 36.0 * 1000 / 3600),
        (10.0, "m/s", "km/h", 10.0 * 3600 / 1000),
        (25.0, "degC", "K", 25.0 + 273.15),
        (300.0, "K", "degC", 300.0 - 273.15),
        (212.0, "degF", "degC", (212.0 - 32) * 5 / 9),
        (-40.0, "degF", "degC", -40.0),
        (3000.0, "rpm", "rad/s", 3000.0 * 2 * math.pi / 60),
        (90.0, "deg", "rad", math.pi / 2),
        (2.0, "kW.h", "J", 2.0 * 1000 * 3600),
        (60.0, "A.h", "C", 60.0 * 3600),
        (1.5, "bar", "kPa", 150.0),
        (250.0, "mm", "m", 0.25),
    ],
)
def test_conversions_match_the_unit_definitions(value, from_unit, to_unit, expected):
    assert convert(value, from_unit, to_unit) == pytest.approx(expected, rel=REL, abs=1e-12)


def test_no_unit_or_the_same_unit_means_no_conversion():
    assert conversion(None, "m") == (1.0, 0.0)
    assert conversion("m", None) == (1.0, 0.0)
    assert conversion("", "") == (1.0, 0.0)
    assert conversion("furlong", "furlong") == (1.0, 0.0)  # same name: nothing to look up


def test_units_of_different_quantities_are_an_error():
    with pytest.raises(ConfigError) as caught:
        conversion("m", "K")
    assert caught.value.problems[0].message == "unit 'm' (m) cannot be converted to 'K' (K)"
    with pytest.raises(ConfigError) as caught:
        conversion("N", "W")
    assert caught.value.problems[0].message == (
        "unit 'N' (kg.m.s-2) cannot be converted to 'W' (kg.m2.s-3)"
    )
    with pytest.raises(ConfigError):  # rad is a base unit of its own in FMI: Hz is not rad/s
        conversion("Hz", "rad/s")


def test_an_unknown_unit_is_an_error():
    with pytest.raises(ConfigError) as caught:
        conversion("furlong", "m")
    assert caught.value.problems[0].message == "unit 'furlong' has no definition"


def test_the_fmu_definition_wins_over_the_built_in_table():
    half_turns = {"deg": Unit("deg", tuple(1 if b == "rad" else 0 for b in BASE_UNITS), math.pi)}
    assert find_unit("deg", half_turns) is half_turns["deg"]
    assert convert(1.0, "deg", "rad", half_turns) == pytest.approx(math.pi, rel=REL)
    assert convert(1.0, "deg", "rad") == pytest.approx(math.pi / 180, rel=REL)


def _defs(name: str):
    return unit_definitions(read_model_description(str(library.bundled_fmu(name)), validate=False))


@pytest.mark.parametrize("prefix", ["", "fmi3/"], ids=["fmi2", "fmi3"])
def test_unit_definitions_read_from_bundled_model_descriptions(prefix):
    newton = _defs(prefix + "Mass2")["N"]
    assert dict(zip(BASE_UNITS, newton.exponents, strict=True)) == {
        "kg": 1,
        "m": 1,
        "s": -2,
        "A": 0,
        "K": 0,
        "mol": 0,
        "cd": 0,
        "rad": 0,
    }
    assert (newton.factor, newton.offset) == (1.0, 0.0)
    kmh = _defs(prefix + "Vehicle")["km/h"]
    assert kmh.factor == pytest.approx(1000 / 3600, rel=REL)
    assert kmh.dimension == "m.s-1"
    celsius = _defs(prefix + "Actuator")["degC"]
    assert (celsius.dimension, celsius.offset) == ("K", pytest.approx(273.15, rel=REL))
    # across two FMUs, with each FMU's own definitions
    gain, offset = conversion("degC", "K", _defs(prefix + "Actuator"), _defs(prefix + "Battery"))
    assert (gain, offset) == (pytest.approx(1.0, rel=REL), pytest.approx(273.15, rel=REL))

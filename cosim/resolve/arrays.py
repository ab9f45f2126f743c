"""FMI 3.0 array variables as element variables: shapes, element names and start values.

An array variable ``y`` with dimensions (2, 3) is offered as six scalar element variables
``y[1,1]`` … ``y[2,3]`` (1-based indices, row-major order, as FMI 3.0 serializes array values,
section 2.4.7.1). Every element keeps the array's value reference and carries its flat
position (`VariableInfo.element`) and the array's size, so the engine gets and sets the whole
array in one call (nValues = size) and reads or writes its element's slot. A dimension given by
a structural parameter (``<Dimension valueReference=.../>``) takes that parameter's value: its
start value, or the component's `parameters:` value where one is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cosim.model.spec import Value


def element_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """The element names of array `name` of `shape`, in row-major order: y[1], A[1,2], ..."""
    if not shape or math.prod(shape) == 0:
        return []
    out = []
    for flat in range(math.prod(shape)):
        index, rest = [], flat
        for extent in reversed(shape):
            index.append(rest % extent + 1)
            rest //= extent
        out.append(f"{name}[{','.join(str(i) for i in reversed(index))}]")
    return out


def dimension_parameters(model_description: Any) -> dict[int, str]:
    """Value reference -> name of every variable that sizes an array dimension."""
    out = {}
    for v in model_description.modelVariables:
        for d in v.dimensions or ():
            if d.valueReference is not None and d.variable is not None:
                out[int(d.valueReference)] = d.variable.name
    return out


def shape_of(variable: Any, sizes: Mapping[int, int]) -> tuple[int, ...] | None:
    """The shape of an array variable with `sizes` for dimension value references (None if a
    dimension has no known size)."""
    shape = []
    for d in variable.dimensions:
        if d.start is not None:
            shape.append(int(d.start))
        elif d.valueReference is not None and int(d.valueReference) in sizes:
            shape.append(int(sizes[int(d.valueReference)]))
        else:
            return None
    return tuple(shape) if all(n >= 0 for n in shape) else None


def default_sizes(model_description: Any) -> dict[int, int]:
    """Dimension value reference -> the start value of the variable it names."""
    out = {}
    for vr, name in dimension_parameters(model_description).items():
        var = next((v for v in model_description.modelVariables if v.name == name), None)
        try:
            out[vr] = int(str(var.start).split()[0]) if var is not None else 0
        except (ValueError, IndexError):
            continue
    return out


def flat_starts(text: str | None, size: int, parse: Any) -> list[Value | None]:
    """The start values of an array's elements from its start attribute (one value is the
    start of every element, as FMI 3.0 allows for arrays of fixed size 1)."""
    if text is None:
        return [None] * size
    parts = str(text).split()
    if len(parts) == 1 and size != 1:
        parts = parts * size
    values = [parse(p) for p in parts]
    return values[:size] + [None] * (size - len(values))


def flatten(value: Any) -> list[Any] | None:
    """A nested list (row-major) as a flat list; None when the nesting is ragged."""
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    shapes = set()
    for item in value:
        flat = flatten(item)
        if flat is None:
            return None
        shapes.add(nested_shape(item))
        out += flat
    return out if len(shapes) <= 1 else None


def nested_shape(value: Any) -> tuple[int, ...]:
    """The shape of a nested list as written (() for a scalar)."""
    if not isinstance(value, list):
        return ()
    return (len(value), *(nested_shape(value[0]) if value else ()))


def expand_feedthrough(
    feedthrough: Mapping[str, tuple[str, ...]], elements: Mapping[str, list[str]]
) -> dict[str, tuple[str, ...]]:
    """Output -> inputs with array names replaced by their elements, on both sides."""
    out: dict[str, tuple[str, ...]] = {}
    for output, deps in feedthrough.items():
        inputs = tuple(e for d in deps for e in elements.get(d, [d]))
        for name in elements.get(output, [output]):
            out[name] = inputs
    return out


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as written in messages: (3,) -> '[3]', (2, 3) -> '[2, 3]'."""
    return "[" + ", ".join(str(n) for n in shape) + "]" if shape else "a scalar"


__all__ = [
    "default_sizes",
    "dimension_parameters",
    "element_names",
    "expand_feedthrough",
    "flat_starts",
    "flatten",
    "nested_shape",
    "shape_of",
    "shape_text",
]

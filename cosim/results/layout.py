"""The results.h5 layout (a contract): dataset names, attributes, and the code that writes them.

File layout::

    /time                          float64 [rows], seconds (attribute unit = "s")
    /signals/<component>.<variable> one 1-D dataset per recorded variable, attributes `name`
                                   (the label "<component>.<variable>", exactly), `unit`,
                                   `component`, `variable`, `kind`, `description` (the FMU's
                                   variable description, "" if none)
                                   in the dtype of the variable's FMI type (below)
    file attributes                system_name, description, yaml, yaml_sha256, yaml_path,
                                   cosim_version, components (JSON: name, fmu path, guid, FMI
                                   version, step), fmu_guids / fmu_paths (JSON maps), start, stop,
                                   step, algorithm, record_interval, signals (JSON list of the
                                   labels in recording order), overrides (JSON list of `--set`
                                   values, from the CLI), and at the end status, error,
                                   wall_time, steps, real_time_factor, statistics (JSON)
    /statistics/<name>             per-step series of the run, when there are any:
                                   step_sizes (float64, s: the accepted steps of
                                   simulation.step_control), loops/<loop>/iterations (int64,
                                   iterations per communication step of an algebraic loop)

Dataset dtypes (`FMI_DTYPES`; every value is stored exactly, none passes through float64):

    FMI 2.0 Real, FMI 3 Float64           float64
    FMI 3 Float32                         float32
    FMI 2.0 Integer, Enumeration (2 & 3)  int64 (as before FMI 3 types were recorded exactly)
    FMI 3 Int8 Int16 Int32 Int64          int8 int16 int32 int64
    FMI 3 UInt8 UInt16 UInt32 UInt64      uint8 uint16 uint32 uint64
    Boolean                               uint8 (0 or 1)

The `kind` attribute (real, integer, boolean) tells a UInt8 integer from a boolean; files
written before exact dtypes hold every integer as int64 and read the same way.

Dataset names: "/" separates HDF5 groups, so a variable name holding "/" (e.g. "bus/u")
would become nested groups. In dataset names "%" is written "%25" and "/" is written "%2F"
(percent-encoding of exactly these two characters; `dataset_name`, undone by `signal_label`),
so "ctrl.bus/u" is stored as /signals/ctrl.bus%2Fu with attribute name = "ctrl.bus/u". Every
other name is stored unchanged. Readers should take labels from the `name` attribute.

Both writers of this layout (the streaming `ResultsWriter` and `Results.to_h5`) use the
functions below, so the layout exists once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.io.signals import dataset_name, signal_label
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem

if TYPE_CHECKING:
    import h5py

    from cosim.engine.execution import RunStatistics

DTYPES: dict[str, Any] = {"real": np.float64, "integer": np.int64, "boolean": np.uint8}
FMI_DTYPES: dict[str, np.dtype] = {
    **dict.fromkeys(("Real", "Float64"), np.dtype(np.float64)),
    "Float32": np.dtype(np.float32),
    **dict.fromkeys(("Integer", "Enumeration"), np.dtype(np.int64)),
    **{f"{u}Int{n}": np.dtype(f"{u.lower()}int{n}") for u in ("", "U") for n in (8, 16, 32, 64)},
    "Boolean": np.dtype(np.uint8),
}
# a run that ended in one of these gets its last state as a final row, even off the record grid
FINAL_ROW_STATUSES = (None, "completed", "stopped", "interrupted")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def text_attr(attrs: Any, key: str, default: str = "") -> str:
    """A string attribute (h5py may hand back bytes for fixed-length strings)."""
    value = attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def label_of(ds: Any, name: str) -> str:
    """A dataset's signal label: its `name` attribute, else the unescaped dataset name."""
    if ds.attrs.get("name") is None:
        return signal_label(name)
    return text_attr(ds.attrs, "name")


def descriptions(system: ResolvedSystem, labels: Sequence[str]) -> list[str]:
    """Each recorded label's variable description from the FMUs' model descriptions."""
    by_label = {r.label: r.variable.description or "" for r in system.records}
    comps = {c.name: c for c in system.components}
    out = []
    for label in labels:
        if label in by_label:
            out.append(by_label[label])
            continue
        component, _, variable = label.partition(".")
        var = comps[component].variables.get(variable) if component in comps else None
        out.append((var.description or "") if var is not None else "")
    return out


def fmi_types(system: ResolvedSystem, labels: Sequence[str]) -> list[str]:
    """Each recorded label's FMI type as declared ("Float64", "Int64", "Integer", ...; "" if
    the label is not a variable of the system)."""
    by_label = {r.label: r.variable.fmi_type for r in system.records}
    comps = {c.name: c for c in system.components}
    out = []
    for label in labels:
        if label in by_label:
            out.append(by_label[label])
            continue
        component, _, variable = label.partition(".")
        var = comps[component].variables.get(variable) if component in comps else None
        out.append(var.fmi_type if var is not None else "")
    return out


def signal_dtype(kind: str, fmi_type: str = "") -> np.dtype:
    """The dataset dtype of a recorded variable: by its FMI type, else by its kind."""
    return FMI_DTYPES.get(fmi_type) or np.dtype(DTYPES.get(kind, np.float64))


def data_dtype(kind: str, values: np.ndarray) -> np.dtype:
    """The dataset dtype for values given in memory: their own dtype when it holds the kind
    exactly (any integer dtype for integers, float32 or float64 for reals), else by kind."""
    dt = np.asarray(values).dtype
    if (kind == "integer" and dt.kind in "iu") or (kind == "real" and dt in _FLOATS):
        return dt
    return np.dtype(DTYPES.get(kind, np.float64))


def stored(values: np.ndarray, dtype: np.dtype, boolean: bool = False) -> np.ndarray:
    """values as dtype without a detour through float64; booleans become 0/1."""
    if values.dtype == dtype:
        return values
    if boolean:
        return np.not_equal(values, 0).astype(dtype)
    return values.astype(dtype)


def metadata(system: ResolvedSystem, labels: Sequence[str]) -> dict[str, Any]:
    """The file attributes known before the run (status "running")."""
    spec = system.spec
    comps = [
        {
            "name": c.name,
            "fmu": str(c.fmu_path),
            "guid": c.guid,
            "fmi_version": c.fmi_version,
            "step": c.decimation * system.step_ticks / TICKS_PER_SECOND,
        }
        for c in system.components
    ]
    return {
        "system_name": spec.name,
        "description": spec.description or "",
        "yaml": spec.text,
        "yaml_sha256": spec.sha256,
        "yaml_path": str(spec.path),
        "cosim_version": _version(),
        "components": json.dumps(comps),
        "fmu_guids": json.dumps({c["name"]: c["guid"] for c in comps}),
        "fmu_paths": json.dumps({c["name"]: c["fmu"] for c in comps}),
        "start": system.start_tick / TICKS_PER_SECOND,
        "stop": system.stop_tick / TICKS_PER_SECOND,
        "step": system.step_ticks / TICKS_PER_SECOND,
        "algorithm": spec.simulation.algorithm,
        "record_interval": system.record_decimation * system.step_ticks / TICKS_PER_SECOND,
        "signals": json.dumps(list(labels)),  # recording order
        "status": "running",
    }


def summary(
    stats: RunStatistics | None, status: str | None, error: BaseException | str | None
) -> dict[str, Any]:
    """The file attributes written when the run ends: status, error, steps, timing."""
    out: dict[str, Any] = {
        "status": status or (stats.status if stats else "unknown"),
        "error": "" if error is None else str(error),
    }
    if stats is not None:
        rtf = stats.real_time_factor
        out["steps"] = stats.steps
        out["wall_time"] = stats.wall_time
        out["real_time_factor"] = rtf if rtf is not None else np.nan
        out["statistics"] = json.dumps(stats.as_dict())
    return out


def write_statistics(file: h5py.File, stats: RunStatistics | None) -> None:
    """Per-step statistics series as datasets /statistics/<name> (float64 or int64)."""
    for name, values in (getattr(stats, "datasets", None) or {}).items():
        data = np.asarray(values)
        if data.dtype.kind not in "iuf":
            continue
        path = f"statistics/{name}"
        if path in file:
            del file[path]
        file.create_dataset(path, data=data)


def create_datasets(
    file: h5py.File,
    labels: Sequence[str],
    units: Sequence[str],
    kinds: Sequence[str],
    descriptions: Sequence[str],
    *,
    chunk_rows: int = 8192,
    data: tuple[np.ndarray, Mapping[str, np.ndarray]] | None = None,
    dtypes: Sequence[Any] | None = None,
) -> tuple[h5py.Dataset, list[h5py.Dataset]]:
    """Create /time and /signals/* (resizable, chunked); with data = (time, {label: values})
    they are filled with it. Each signal's dtype is dtypes[k], else `data_dtype` of its data,
    else `DTYPES[kind]`. Returns the time dataset and the signal datasets in label order."""
    n = 0 if data is None else int(data[0].shape[0])
    chunk = (max(1, min(chunk_rows, n or chunk_rows)),)
    time = file.create_dataset("time", shape=(n,), maxshape=(None,), dtype=np.float64, chunks=chunk)
    time.attrs["unit"] = "s"
    if data is not None:
        time[:] = data[0]
    group = file.create_group("signals", track_order=True)
    signals = []
    for k, label in enumerate(labels):
        kind = kinds[k]
        if dtypes is not None:
            dtype = np.dtype(dtypes[k])
        elif data is not None:
            dtype = data_dtype(kind, data[1][label])
        else:
            dtype = np.dtype(DTYPES.get(kind, np.float64))
        ds = group.create_dataset(
            dataset_name(label), shape=(n,), maxshape=(None,), dtype=dtype, chunks=chunk
        )
        component, _, variable = label.partition(".")
        ds.attrs["name"] = label
        ds.attrs["unit"] = units[k]
        ds.attrs["component"] = component
        ds.attrs["variable"] = variable
        ds.attrs["kind"] = kind
        ds.attrs["description"] = descriptions[k]
        if data is not None and n:
            ds[:] = stored(np.asarray(data[1][label]), dtype, kind == "boolean")
        signals.append(ds)
    return time, signals


def _version() -> str:
    from cosim import __version__

    return __version__


__all__ = [
    "DTYPES",
    "FINAL_ROW_STATUSES",
    "FMI_DTYPES",
    "create_datasets",
    "data_dtype",
    "dataset_name",
    "descriptions",
    "fmi_types",
    "label_of",
    "metadata",
    "signal_label",
    "signal_dtype",
    "stored",
    "summary",
    "text_attr",
]

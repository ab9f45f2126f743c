"""The public path of `cosim.io.signals`: read results.h5 or CSV into time plus named signals."""

from cosim.io.signals import (
    HDF5_SIGNATURE,
    SignalSet,
    from_arrays,
    is_glob,
    matches,
    read_signals,
    select_names,
    split_unit,
)

__all__ = [
    "HDF5_SIGNATURE",
    "SignalSet",
    "from_arrays",
    "is_glob",
    "matches",
    "read_signals",
    "select_names",
    "split_unit",
]

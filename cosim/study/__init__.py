"""Parameter studies: designs, quantities of interest, executors, sweep.h5."""

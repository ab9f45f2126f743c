"""Results: the results.h5 writer, readers of results and CSV files."""

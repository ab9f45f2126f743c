"""SSP (System Structure and Parameterization) packages: read into, and written from, a system."""

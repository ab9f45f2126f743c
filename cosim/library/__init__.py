"""The bundled FMU library: generated and compiled from fmus/."""

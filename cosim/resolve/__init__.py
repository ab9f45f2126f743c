"""Resolving a SystemSpec against FMU files: lookup, names, units, graph, live links."""

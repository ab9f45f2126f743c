"""Resolving a SystemSpec against FMU model descriptions: names, units, graph."""

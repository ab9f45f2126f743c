"""The engine: the flat plan, the one loop, the execution life cycle."""

"""format-neutral data: SystemSpec, ResolvedSystem, the time base (integer ns ticks)."""

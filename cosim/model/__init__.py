"""Format-neutral data: SystemSpec (every section typed), ResolvedSystem, ticks."""

"""Reading system files: the YAML reader, its locator and problem collector, the JSON Schema."""

"""Reading system files: one locator and problem collector; yaml, opcua, plant readers; schema."""

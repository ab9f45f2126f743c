"""The plant simulator: a system in real time behind an OPC UA server."""

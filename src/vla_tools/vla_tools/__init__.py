"""vla_tools."""

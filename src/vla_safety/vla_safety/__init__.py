"""vla_safety."""

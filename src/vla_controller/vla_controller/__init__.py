"""vla_controller."""

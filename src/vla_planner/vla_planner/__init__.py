"""vla_planner."""

"""vla_action_expert."""

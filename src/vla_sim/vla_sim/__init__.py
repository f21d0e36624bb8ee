"""vla_sim."""

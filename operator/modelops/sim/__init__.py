"""modelops.sim."""

"""modelops.localcluster."""

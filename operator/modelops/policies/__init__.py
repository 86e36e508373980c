"""modelops.policies."""

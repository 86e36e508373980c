"""modelops.router."""

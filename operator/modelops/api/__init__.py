"""modelops.api."""

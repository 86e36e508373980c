"""modelops.controller."""

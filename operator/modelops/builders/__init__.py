"""modelops.builders."""

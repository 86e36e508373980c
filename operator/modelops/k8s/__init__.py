"""modelops.k8s."""

"""`modelops dashboard`: the read-only web UI over the cluster and the routers (docs/dashboard.md)."""

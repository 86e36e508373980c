"""`modelops dashboard`: the read-only web UI over the cluster and the routers.

See docs/dashboard.md.
"""

"""Route table lookup with FastAPI/Go-like answers for unknown paths and wrong methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from modelops.sim.server import Handler, Request, Response, StreamResponse

Endpoint = Callable[[Request], Awaitable[Response | StreamResponse]]
Routes = dict[tuple[str, str], Endpoint]


def make_handler(routes: Routes, not_found: Response, method_not_allowed: Response) -> Handler:
    known_paths = {path for _, path in routes}

    async def handle(request: Request) -> Response | StreamResponse:
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = routes.get((method, request.path))
        if endpoint is None:
            if request.path in known_paths:
                return method_not_allowed
            return not_found
        return await endpoint(request)

    return handle

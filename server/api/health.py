"""GET /health (no auth: orchestrators probe it) and GET /metrics (Prometheus)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    return JSONResponse(
        {
            "status": "ok",
            "engine": state.engine.name,
            "model": state.registry.base_name,
            "adapters": [a.ref.name for a in state.registry.adapters],
            "in_flight": state.engine.queue_depth(),
        }
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

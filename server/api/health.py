"""GET /health (readiness), /health/live (liveness), /metrics (Prometheus); no auth: orchestrators probe them.

On a public bind `/metrics` needs a key (`server.gate`) and `/health` leaves out the clones' names: a
probe needs to know the server is up, not whose clones it serves.

`/health` says whether requests can be served now: 503 while the engine starts again after dying,
so a load balancer stops sending traffic. `/health/live` only says the process answers, so that an
orchestrator does not kill a server in the middle of bringing its engine back.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from wechat_twin.server.api.generation import ENGINE_RETRY_AFTER_S

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    supervisor = state.supervisor
    supervisor.check_dead()
    body = {
        "status": "ok" if supervisor.ready else supervisor.state.value,
        "engine": state.engine.name,
        "model": state.registry.base_name,
        "in_flight": state.engine.queue_depth(),
        "admitted": state.admission.in_flight,
        "engine_restarts": supervisor.restarts,
    }
    if not state.settings.public:
        body["adapters"] = [a.ref.name for a in state.registry.adapters]
    if supervisor.ready:
        return JSONResponse(body)
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(ENGINE_RETRY_AFTER_S)})


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "alive"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    state.metrics.adapters_servable.set(len(state.registry.adapters))
    if state.supervisor.ready:  # a dying engine is not asked
        state.metrics.adapters_resident.set(len(await state.engine.resident_adapters()))
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

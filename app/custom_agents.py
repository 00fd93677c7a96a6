"""``/me/agents/{agent}``: the caller's custom agent for one agent (see
``jobs.record.custom_agents``).

``GET`` shows it (404 ``CUSTOM_AGENT_NOT_FOUND`` when there is none), ``PUT`` stores a new
version (422 naming the field when it does not validate), ``DELETE`` removes it (204, also
when there was none). Owner-scoped by the bearer token: nobody can see or touch another
user's custom agents, because the owner is never a parameter.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.routes import bearer, read_json, services
from jobs.errors import CustomAgentNotFound


async def custom_agent(request: Request) -> Response:
    svc = services(request)
    principal = await bearer(request)
    name = request.path_params["agent"]
    agent = svc.agents.get(name)  # 422 UNKNOWN_AGENT names the agents there are
    store = svc.jobs.custom_agents
    if request.method == "DELETE":
        await store.delete(principal.sub, agent.name)
        return Response(status_code=204)
    if request.method == "PUT":
        config = store.validate(
            await read_json(request), tools=agent.tools, allowed_models=svc.agents.allowed_models
        )
        return JSONResponse(await store.put(principal.sub, agent.name, config))
    stored = await store.get(principal.sub, agent.name)
    if stored is None:
        raise CustomAgentNotFound(agent.name)
    return JSONResponse(stored)


routes = [
    Route(
        "/me/agents/{agent}",
        custom_agent,
        methods=["GET", "PUT", "DELETE"],
        name="custom_agent",
    ),
]

"""Liveness and readiness for process supervisors and load balancers.

- ``GET /healthz``: the process answers (no dependency is touched).
- ``GET /readyz``: the exchange accepts commands and the database answers; otherwise
  503 ``STORE_UNAVAILABLE`` (or ``EXCHANGE_CLOSED``) so a balancer stops sending traffic.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from spotlab.api.deps import CtxDep
from spotlab.api.schemas import ResponseModel
from spotlab.errors import ErrorCode, SpotlabError

router = APIRouter(tags=["operations"])


class Health(ResponseModel):
    status: str = Field(examples=["ok"])


@router.get("/healthz", response_model=Health, summary="Alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="Ready: store reachable", responses={503: {}})
async def readyz(ctx: CtxDep) -> Health:
    ctx.exchange.check_usable()
    await run_in_threadpool(_ping, ctx.accounts.engine)
    return Health(status="ready")


def _ping(engine: sa.Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        raise SpotlabError(
            ErrorCode.STORE_UNAVAILABLE, f"the database does not answer: {type(error).__name__}"
        ) from None

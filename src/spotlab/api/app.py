"""``create_app``: the FastAPI application of API v1, wired to one exchange.

Invariants
- The app owns what it opens (the exchange unless one is passed in, the account
  and history databases) and closes it on shutdown, in reverse order.
- Every response, including errors from middleware, is JSON or problem+json; no
  route is reachable without passing the body limit and the rate limiter.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from spotlab.accounts import AccountService
from spotlab.accounts.replay import InProcessReplayCache, RedisReplayCache
from spotlab.api import handlers
from spotlab.api.context import ApiContext
from spotlab.api.routes import accounts, markets
from spotlab.api.schemas import ERROR_RESPONSES, problems_as_problem_json
from spotlab.clock import Clock, WallClock
from spotlab.exchange import Exchange
from spotlab.settings import Settings
from spotlab.store.sql import sql_engine

DESCRIPTION = """
spotlab's public API v1: a spot exchange with real matching, settlement and fees on paper money.

* Amounts are decimal **strings** (`"0.015"`); JSON numbers with a fraction are refused.
* Market ids are written `BTC-USDT`.
* Errors are `application/problem+json` (RFC 9457) with a stable `code`.
* Authenticate with a bearer token from `POST /v1/auth/token`, or sign requests with an API key
  (`SPOTLAB-KEY`, `SPOTLAB-TIMESTAMP`, `SPOTLAB-SIGNATURE`: see the README).
* Lists are paginated newest first: pass `next_cursor` back as `cursor`.
"""


def create_app(settings: Settings | None = None, *, exchange: Exchange | None = None, clock: Clock | None = None):
    """The API app. Without ``exchange`` it opens ``settings.resolved_store()`` at startup."""
    settings = settings or Settings()
    clock = clock or WallClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = []
        try:
            ex = exchange
            if ex is None:
                ex = Exchange.open(settings.resolved_store(), clock=clock)
                opened.append(ex.close)
            engine = sql_engine(ex.url if ex.url.startswith(("sqlite", "postgres")) else None, "accounts")
            opened.append(engine.dispose)
            account_service = AccountService(
                engine,
                settings.resolved_secret(),
                clock=clock,
                token_ttl_seconds=settings.token_ttl_seconds,
                login_max_failures=settings.login_max_failures,
                login_lockout_seconds=settings.login_lockout_seconds,
            )
            replay = InProcessReplayCache()
            if settings.redis_url:
                import redis.asyncio as aioredis

                client = aioredis.from_url(settings.redis_url)
                opened.append(_closer(client))
                replay = RedisReplayCache(client)
            app.state.ctx = ApiContext(
                settings=settings, exchange=ex, accounts=account_service, clock=clock, replay=replay
            )
            yield
        finally:
            for close in reversed(opened):
                result = close()
                if hasattr(result, "__await__"):
                    await result

    app = FastAPI(
        title="spotlab API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    handlers.install(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problems_as_problem_json(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    for router in (markets.router, accounts.router):
        app.include_router(router, responses=ERROR_RESPONSES)
    return app


def _closer(client):
    async def close():
        await client.aclose()

    return close

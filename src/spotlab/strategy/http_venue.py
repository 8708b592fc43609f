"""A ``Venue`` over the REST API of any spotlab server: ``HttpVenue(base_url, key_id, secret)``.

The same strategy that trades an in-process ``Exchange`` through ``ExchangeVenue`` trades a remote
server through this class: it sends signed requests (``ApiClient``) and maps the answers back to
the exchange's own view types, so a strategy cannot tell the two apart.

Invariants
- Every request is signed as the server expects (``spotlab.accounts.signing``): ``SPOTLAB-KEY``,
  ``SPOTLAB-TIMESTAMP`` (milliseconds of ``clock``, the server's clock in tests) and
  ``SPOTLAB-SIGNATURE`` over timestamp + METHOD + path with query + the exact body bytes.
  Timestamps strictly increase per client, so no two requests sign alike (the server refuses a
  signature it has seen); each retry is signed afresh.
- Answers map field by field: decimal strings become ``Decimal`` (never float), times aware UTC
  ``datetime``, ``BTC-USDT`` becomes ``BTC/USDT``. ``OrderView.account`` is the API key's account
  (the API never shows it). ``duplicate`` is ``True`` when the server answered 200 to a POST (a
  repeated ``client_order_id``).
- A problem+json answer raises ``SpotlabError`` with the server's ``code``, its ``detail`` as the
  message and its ``details`` (422 validation answers: ``errors``); the figures are plain JSON values
  (the API writes Decimals as strings). A request that never got an answer raises
  ``SOURCE_UNAVAILABLE``. Amounts are checked as the exchange checks them (a float is
  ``INVALID_NUMBER``) before anything is sent.
- 429: the client waits ``Retry-After`` seconds and retries, at most ``max_retries`` times, then
  raises the server's ``RATE_LIMITED``. A rate-limited request never reached the exchange, so
  retrying an order is safe. A GET answered 503 (the server's history catching up) is retried the
  same way.

Limitations
- The API does not publish assets' precisions: ``market_spec`` takes the asset from ``assets``
  (default: the packaged catalogue's) and otherwise the smallest precision the market's own rules
  need. Specs are fetched once per market and cached (their status may go stale; the server still
  refuses orders in a halted market).
- ``conditional_orders`` reads the pending ids from the order history (``GET /v1/orders?status=NEW``)
  and each order from ``GET /v1/orders/{id}``: one request per pending conditional order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from spotlab.accounts.signing import sign
from spotlab.catalogue import default_catalogue
from spotlab.clock import Clock, WallClock
from spotlab.core.markets import Asset, MarketSpec
from spotlab.core.units import parse_decimal
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.edge import quote_triple
from spotlab.exchange.views import Balance, BookView, Fill, OrderListView, OrderView, QuotesView
from spotlab.strategy.venue import Amount

CONDITIONAL_TYPES = frozenset({"stop_loss", "stop_loss_limit", "take_profit", "take_profit_limit", "trailing_stop"})
_AMOUNT_OPTIONS = frozenset(
    {"quote_quantity", "stop_price", "trailing_distance", "trailing_percent", "activation_price", "stop_limit_price"}
)


def market_id(market: str) -> str:
    """``BTC/USDT`` -> ``BTC-USDT`` (the API's spelling)."""
    return market.replace("/", "-")


def symbol(market: str) -> str:
    """``BTC-USDT`` -> ``BTC/USDT`` (the exchange's spelling)."""
    return market.replace("-", "/")


class ApiClient:
    """Signed JSON requests to one spotlab server for one API key (sync; shared by a venue and a feed)."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        clock: Clock | None = None,
        max_retries: int = 3,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not key_id or not secret:
            raise SpotlabError(
                ErrorCode.UNAUTHENTICATED, "an API key id and its secret are needed (POST /v1/api-keys creates one)"
            )
        if max_retries < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._secret = secret
        self.clock: Clock = clock or WallClock()
        self.max_retries = max_retries
        self._sleep = sleep
        self._last_ms = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None, *, signed: bool = True
    ) -> tuple[int, Any]:
        """``(status, decoded JSON)`` of a 2xx answer; a problem answer raises ``SpotlabError``."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            request = self._http.build_request(method, path, params=query or None, content=content or None)
            if content:
                request.headers["Content-Type"] = "application/json"
            if signed:
                self._sign(request, content)
            try:
                response = self._http.send(request)
            except httpx.HTTPError as error:
                raise SpotlabError(
                    ErrorCode.SOURCE_UNAVAILABLE, f"{method} {path}: no answer from {self.base_url} ({error})"
                ) from None
            retryable = response.status_code == 429 or (response.status_code == 503 and method == "GET")
            if retryable and attempt < self.max_retries:
                attempt += 1
                self._sleep(_retry_after(response))
                continue
            if response.is_success:
                return response.status_code, response.json() if response.content else None
            raise problem_error(response)

    def _sign(self, request: httpx.Request, content: bytes) -> None:
        with self._lock:
            self._last_ms = max(self.clock.now_ns() // 1_000_000, self._last_ms + 1)
            timestamp = str(self._last_ms)
        path = request.url.raw_path.decode("ascii")  # path with the query, exactly as sent
        request.headers["SPOTLAB-KEY"] = self.key_id
        request.headers["SPOTLAB-TIMESTAMP"] = timestamp
        request.headers["SPOTLAB-SIGNATURE"] = sign(self._secret, timestamp, request.method, path, content)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """The items of a paged list (newest first), following ``next_cursor`` lazily."""
        cursor = None
        while True:
            _, page = self.request("GET", path, {**(params or {}), "cursor": cursor})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, key_id={self.key_id!r})"


def problem_error(response: httpx.Response) -> SpotlabError:
    """The ``SpotlabError`` a problem+json answer stands for (same code, detail and details)."""
    try:
        problem = response.json()
        code = ErrorCode(problem["code"])
    except (ValueError, KeyError, TypeError):
        return SpotlabError(
            ErrorCode.SOURCE_UNAVAILABLE,
            f"{response.request.method} {response.request.url.path}: HTTP {response.status_code} without a "
            f"spotlab problem: {response.text[:200]!r}",
            status=response.status_code,
        )
    details = dict(problem.get("details") or {})
    if problem.get("errors"):
        details["errors"] = problem["errors"]
    return SpotlabError(code, problem.get("detail") or str(code), **details)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


# -- answers -> the exchange's views ------------------------------------------------------------


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def fill_view(data: Mapping[str, Any]) -> Fill:
    return Fill(
        trade_id=data["trade_id"],
        price=Decimal(data["price"]),
        quantity=Decimal(data["quantity"]),
        notional=Decimal(data["notional"]),
        fee=Decimal(data["fee"]),
        fee_asset=data["fee_asset"],
        role=data["role"],
        time=_time(data["time"]),
    )


def order_view(data: Mapping[str, Any], account: str, duplicate: bool = False) -> OrderView:
    """An ``OrderPublic`` answer as the exchange's ``OrderView``."""
    return OrderView(
        id=data["id"],
        account=account,
        market=symbol(data["market"]),
        side=data["side"],
        type=data["type"],
        time_in_force=data["time_in_force"],
        self_trade_prevention=data["self_trade_prevention"],
        status=data["status"],
        price=_decimal(data["price"]),
        quantity=_decimal(data["quantity"]),
        quote_quantity=_decimal(data.get("quote_quantity")),
        filled_quantity=Decimal(data["filled_quantity"]),
        remaining_quantity=Decimal(data["remaining_quantity"]),
        filled_notional=Decimal(data["filled_notional"]),
        average_price=_decimal(data["average_price"]),
        fees=Decimal(data["fees"]),
        fee_asset=data["fee_asset"],
        client_order_id=data["client_order_id"],
        reason=data.get("reason"),
        created_at=_time(data["created_at"]),
        updated_at=_time(data["updated_at"]),
        fills=tuple(fill_view(fill) for fill in data["fills"]),
        arrival_price=_decimal(data["arrival_price"]),
        slippage=_decimal(data["slippage"]),
        slippage_bps=_decimal(data["slippage_bps"]),
        duplicate=duplicate,
        stop_price=_decimal(data.get("stop_price")),
        parent_id=data.get("parent_id"),
        list_id=data.get("list_id"),
        trailing_distance=_decimal(data.get("trailing_distance")),
        trailing_percent=_decimal(data.get("trailing_percent")),
        activation_price=_decimal(data.get("activation_price")),
    )


def order_list_view(data: Mapping[str, Any], account: str, duplicate: bool = False) -> OrderListView:
    """An ``OrderListPublic`` answer as the exchange's ``OrderListView``."""
    return OrderListView(
        id=data["id"],
        kind=data["type"],
        account=account,
        market=symbol(data["market"]),
        status=data["status"],
        quantity=Decimal(data["quantity"]),
        take_profit_price=Decimal(data["take_profit_price"]),
        stop_price=Decimal(data["stop_price"]),
        stop_limit_price=_decimal(data.get("stop_limit_price")),
        entry_price=_decimal(data.get("entry_price")),
        orders=tuple(order_view(order, account) for order in data["orders"]),
        unprotected_quantity=Decimal(data["unprotected_quantity"]),
        side=data.get("side", "sell"),
        client_order_id=data.get("client_order_id"),
        duplicate=duplicate,
    )


def book_view(data: Mapping[str, Any]) -> BookView:
    """A ``BookPublic`` answer as the exchange's ``BookView``."""
    return BookView(
        symbol(data["market"]),
        [(Decimal(price), Decimal(quantity)) for price, quantity in data["bids"]],
        [(Decimal(price), Decimal(quantity)) for price, quantity in data["asks"]],
        data["sequence"],
    )


def market_spec(data: Mapping[str, Any], assets: Mapping[str, Asset]) -> MarketSpec:
    """A ``MarketPublic`` answer as a ``MarketSpec`` (assets from ``assets``, else inferred: see the docstring)."""
    rules = {name: Decimal(data[name]) for name in ("tick_size", "lot_size", "min_quantity", "min_notional")}
    base = assets.get(data["base"]) or Asset(data["base"], _places(rules["lot_size"]))
    quote = assets.get(data["quote"]) or Asset(
        data["quote"], max(_places(rules["tick_size"] * rules["lot_size"]), _places(rules["min_notional"]))
    )
    return MarketSpec(
        symbol=data["symbol"],
        base=base,
        quote=quote,
        maker_fee=Decimal(data["maker_fee"]),
        taker_fee=Decimal(data["taker_fee"]),
        status=data["status"],
        **rules,
    )


def _places(value: Decimal) -> int:
    return max(0, -value.normalize().as_tuple().exponent)


# -- requests ----------------------------------------------------------------------------------


def _amount(value: Amount, name: str) -> str:
    return format(parse_decimal(value, name), "f")


def _quote(number: int, quote: Any) -> dict[str, str]:
    """A quote of ``PUT /v1/quotes/{market}`` from a ``(side, price, quantity)`` triple."""
    side, price, quantity = quote_triple(number, quote)
    return {"side": str(side), "price": _amount(price, "price"), "quantity": _amount(quantity, "quantity")}


def _fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A request body: ``None`` left out, amounts as decimal strings, enum members as their values."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _AMOUNT_OPTIONS or name in ("price", "quantity", "take_profit_price", "entry_price"):
            body[name] = _amount(value, name)
        elif name == "market":
            body[name] = market_id(value)
        else:
            body[name] = str(value)
    return body


class HttpVenue:
    """A ``Venue`` acting for the account of an API key on a spotlab server (see the module docstring)."""

    def __init__(
        self,
        base_url: str | None = None,
        key_id: str | None = None,
        secret: str | None = None,
        *,
        api: ApiClient | None = None,
        assets: Mapping[str, Asset] | None = None,
        **client_options: Any,
    ) -> None:
        """Either ``base_url``, ``key_id`` and ``secret`` (``client_options``: ``ApiClient``'s ``clock``,
        ``max_retries``, ``timeout``, ``sleep``), or an ``api`` client to share."""
        if api is None:
            if base_url is None:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "HttpVenue needs base_url, key_id and secret (or api=)")
            api = ApiClient(base_url, key_id or "", secret or "", **client_options)
        self.api = api
        self._assets = dict(default_catalogue().assets if assets is None else assets)
        self._specs: dict[str, MarketSpec] = {}
        self._account: str | None = None

    @property
    def account(self) -> str:
        """The API key's account (read once from ``GET /v1/account``)."""
        if self._account is None:
            _, answer = self.api.request("GET", "/v1/account")
            self._account = answer["username"]
        return self._account

    def _order(self, answer: tuple[int, Any], placing: bool = False) -> OrderView:
        status, data = answer
        return order_view(data, self.account, duplicate=placing and status == 200)

    def _list(self, answer: tuple[int, Any], placing: bool = False) -> OrderListView:
        status, data = answer
        return order_list_view(data, self.account, duplicate=placing and status == 200)

    # -- orders -------------------------------------------------------------------------------

    def place_order(self, market, side, type, price=None, quantity=None, **options) -> OrderView:
        body = _fields({"market": market, "side": side, "type": type, "price": price, "quantity": quantity, **options})
        return self._order(self.api.request("POST", "/v1/orders", body=body), placing=True)

    def place_oco(self, market, quantity, take_profit_price, stop_price, **options) -> OrderListView:
        fields = {"type": "oco", "market": market, "quantity": quantity, "take_profit_price": take_profit_price}
        body = _fields({**fields, "stop_price": stop_price, **options})
        return self._list(self.api.request("POST", "/v1/order-lists", body=body), placing=True)

    def place_bracket(self, market, quantity, entry_price, take_profit_price, stop_price, **options) -> OrderListView:
        fields = {"type": "bracket", "market": market, "quantity": quantity, "entry_price": entry_price}
        body = _fields({**fields, "take_profit_price": take_profit_price, "stop_price": stop_price, **options})
        return self._list(self.api.request("POST", "/v1/order-lists", body=body), placing=True)

    def cancel_order(self, order_id: int) -> OrderView:
        return self._order(self.api.request("DELETE", f"/v1/orders/{int(order_id)}"))

    def cancel_order_list(self, list_id: int) -> OrderListView:
        return self._list(self.api.request("DELETE", f"/v1/order-lists/{int(list_id)}"))

    def cancel_all_orders(self, market: str) -> list[OrderView]:
        _, answer = self.api.request("DELETE", "/v1/orders", {"market": market_id(market)})
        return [order_view(data, self.account) for data in answer]

    def replace_quotes(self, market: str, quotes) -> QuotesView:
        body = {"quotes": [_quote(number, quote) for number, quote in enumerate(quotes)]}
        _, answer = self.api.request("PUT", f"/v1/quotes/{market_id(market)}", body=body)
        return QuotesView(
            symbol(answer["market"]),
            canceled=tuple(order_view(data, self.account) for data in answer["canceled"]),
            placed=tuple(order_view(data, self.account) for data in answer["placed"]),
        )

    # -- reading ------------------------------------------------------------------------------

    def order(self, order_id: int) -> OrderView:
        return self._order(self.api.request("GET", f"/v1/orders/{int(order_id)}"))

    def order_list(self, list_id: int) -> OrderListView:
        return self._list(self.api.request("GET", f"/v1/order-lists/{int(list_id)}"))

    def open_orders(self, market: str | None = None) -> list[OrderView]:
        """Open orders, oldest first (as ``Exchange.open_orders``)."""
        params = {"open": "true", "limit": 1000, "market": None if market is None else market_id(market)}
        return sorted((order_view(d, self.account) for d in self.api.pages("/v1/orders", params)), key=_id)

    def conditional_orders(self, market: str | None = None) -> list[OrderView]:
        """Pending conditional orders, oldest first (see Limitations in the module docstring)."""
        params = {"status": "NEW", "limit": 1000, "market": None if market is None else market_id(market)}
        ids = sorted(d["id"] for d in self.api.pages("/v1/orders", params) if d["type"] in CONDITIONAL_TYPES)
        found = [self.order(order_id) for order_id in ids]
        return [view for view in found if view.status == "NEW"]

    def balances(self) -> dict[str, Balance]:
        _, answer = self.api.request("GET", "/v1/balances")
        return {asset: Balance(Decimal(b["available"]), Decimal(b["locked"])) for asset, b in sorted(answer.items())}

    def market_spec(self, market: str) -> MarketSpec:
        key = symbol(market)
        if key not in self._specs:
            _, answer = self.api.request("GET", f"/v1/markets/{market_id(market)}", signed=False)
            self._specs[key] = market_spec(answer, self._assets)
        return self._specs[key]

    def order_book(self, market: str, depth: int = 10) -> BookView:
        """``GET /v1/markets/{market}/book`` (public; ``depth`` 1 to 1000 levels a side)."""
        _, answer = self.api.request(
            "GET", f"/v1/markets/{market_id(market)}/book", {"depth": int(depth)}, signed=False
        )
        return book_view(answer)

    def close(self) -> None:
        self.api.close()

    def __repr__(self) -> str:
        return f"HttpVenue({self.api.base_url!r}, key_id={self.api.key_id!r})"


def _id(view: OrderView) -> int:
    return view.id

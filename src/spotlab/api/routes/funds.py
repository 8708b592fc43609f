"""Funds: balances, paper-money deposits and withdrawals to whitelisted addresses.

Endpoints and the scope each needs
- ``GET /v1/balances`` (``read``): ``{asset: {available, locked, total}}`` for every asset
  the account has touched.
- ``POST /v1/deposits`` (``trade``: deposits are paper money, credited like a trade's proceeds;
  a ``read`` key cannot deposit), ``GET /v1/deposits`` (``read``).
- ``POST /v1/withdrawals`` (``withdraw``), ``GET /v1/withdrawals`` (``read``).

Invariants
- A route only ever touches the caller's account (``principal.account``).
- A deposit below ``settings.min_deposits[asset]`` (when configured) is 422
  ``BELOW_MIN_DEPOSIT`` stating the minimum; every other rule (precision, positive
  amount, withdrawal minimum and fee, funds) is the exchange's, and a refusal changes
  nothing.
- A withdrawal passes, in this order: the asset exists; the amount is on the asset's
  precision; the address is on the caller's whitelist for that asset and past its
  waiting period (403 ``ADDRESS_NOT_WHITELISTED`` / ``ADDRESS_NOT_YET_ACTIVE``); the 2FA
  code when 2FA is on (it is consumed here, so earlier refusals do not burn it); then
  the exchange takes ``amount`` and ``amount - fee`` leaves.
- Lists come from the history read model, newest first, after waiting for the
  exchange's last sequence (read-your-writes).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from spotlab.accounts.addresses import ADDRESS_PATTERN
from spotlab.api.context import ApiContext
from spotlab.api.deps import CtxDep, Reader, Trader, Withdrawer
from spotlab.api.routes.security import AddressBookDep, AssetCode, TotpCode, TwoFactorDep
from spotlab.api.schemas import DecimalIn, DecimalOut, Page, RequestModel, ResponseModel, decode_cursor, encode_cursor
from spotlab.clock import ns_to_datetime
from spotlab.core.commands import Deposit
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange import edge
from spotlab.exchange.views import Balance, Withdrawal

router = APIRouter(prefix="/v1", tags=["funds"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")]


class BalancePublic(ResponseModel):
    available: DecimalOut
    locked: DecimalOut
    total: DecimalOut


class DepositCreate(RequestModel):
    asset: AssetCode
    amount: DecimalIn


class DepositPublic(ResponseModel):
    asset: str = Field(examples=["USDT"])
    amount: DecimalOut
    sequence: int = Field(description="The Deposited event's sequence number.", examples=[42])
    time: datetime = Field(examples=["2024-01-01T12:00:00Z"])


class DepositCreated(DepositPublic):
    balance: BalancePublic = Field(description="The asset's balance right after the deposit.")


class WithdrawalCreate(RequestModel):
    asset: AssetCode
    amount: DecimalIn = Field(description="Taken from the account; the asset's withdrawal fee is part of it.")
    address: Annotated[str, Field(pattern=ADDRESS_PATTERN, examples=["bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"])]
    totp_code: TotpCode | None = None


class WithdrawalPublic(ResponseModel):
    asset: str = Field(examples=["BTC"])
    amount: DecimalOut
    fee: DecimalOut
    sent: DecimalOut = Field(description="amount - fee: what left the exchange.")
    address: str | None = Field(examples=["bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"])
    sequence: int = Field(description="The Withdrawn event's sequence number.", examples=[57])
    time: datetime = Field(examples=["2024-01-01T12:00:00Z"])


def balance_public(balance: Balance) -> BalancePublic:
    return BalancePublic(available=balance.available, locked=balance.locked, total=balance.total)


def withdrawal_public(w: Withdrawal) -> WithdrawalPublic:
    return WithdrawalPublic(
        asset=w.asset, amount=w.amount, fee=w.fee, sent=w.sent, address=w.address, sequence=w.sequence, time=w.time
    )


def check_min_deposit(ctx: ApiContext, asset: str, amount: Decimal) -> None:
    """``BELOW_MIN_DEPOSIT`` for a positive amount under the asset's configured minimum."""
    minimum = ctx.settings.min_deposits.get(asset)
    if minimum is not None and 0 < amount < minimum:
        raise SpotlabError(
            ErrorCode.BELOW_MIN_DEPOSIT,
            f"the smallest deposit of {asset} is {minimum}; got {amount}",
            asset=asset,
            minimum=minimum,
            given=amount,
        )


@router.get("/balances", response_model=dict[str, BalancePublic], summary="The caller's balances")
def get_balances(principal: Reader, ctx: CtxDep) -> dict[str, BalancePublic]:
    return {asset: balance_public(b) for asset, b in ctx.exchange.balances(principal.account).items()}


@router.post("/deposits", status_code=201, response_model=DepositCreated, summary="Deposit paper money")
async def create_deposit(body: DepositCreate, principal: Trader, ctx: CtxDep) -> DepositCreated:
    spec = ctx.exchange.asset_spec(body.asset)
    check_min_deposit(ctx, spec.code, body.amount)
    command = Deposit(principal.account, spec.code, edge.amount_units(spec, body.amount))
    deposited = (await ctx.exchange.aio.execute(command)).events[0]
    balance = ctx.exchange.balances(principal.account)[spec.code]
    return DepositCreated(
        asset=spec.code,
        amount=spec.to_decimal(deposited.amount),
        sequence=deposited.seq,
        time=ns_to_datetime(deposited.ts),
        balance=balance_public(balance),
    )


@router.get("/deposits", response_model=Page[DepositPublic], summary="The caller's deposits, newest first")
async def list_deposits(
    principal: Reader, ctx: CtxDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[DepositPublic]:
    before = decode_cursor(cursor)
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    page = ctx.history.deposits(principal.account, limit=limit, before=before)
    items = [DepositPublic(asset=d.asset, amount=d.amount, sequence=d.sequence, time=d.time) for d in page.items]
    return Page[DepositPublic](items=items, next_cursor=encode_cursor(page.next_before))


@router.post(
    "/withdrawals", status_code=201, response_model=WithdrawalPublic, summary="Withdraw to a whitelisted address"
)
def create_withdrawal(
    body: WithdrawalCreate,
    principal: Withdrawer,
    ctx: CtxDep,
    two_factor: TwoFactorDep,
    book: AddressBookDep,
) -> WithdrawalPublic:
    spec = ctx.exchange.asset_spec(body.asset)
    edge.amount_units(spec, body.amount)  # refuse an off-precision amount before the 2FA code is consumed
    book.require_usable(principal.account, spec.code, body.address)
    two_factor.require(principal.account, body.totp_code)
    return withdrawal_public(ctx.exchange.withdraw(principal.account, spec.code, body.amount, body.address))


@router.get("/withdrawals", response_model=Page[WithdrawalPublic], summary="The caller's withdrawals, newest first")
async def list_withdrawals(
    principal: Reader, ctx: CtxDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[WithdrawalPublic]:
    before = decode_cursor(cursor)
    await ctx.history.wait_async(ctx.exchange.last_sequence)
    page = ctx.history.withdrawals(principal.account, limit=limit, before=before)
    items = [withdrawal_public(w) for w in page.items]
    return Page[WithdrawalPublic](items=items, next_cursor=encode_cursor(page.next_before))

"""Security settings of a login: two-factor authentication and the withdrawal whitelist.

Endpoints (all need a login token, ``LoginSession``: an API key cannot change them)
- ``POST /v1/2fa``: start enrolment; answers the seed and its ``otpauth://`` URI, once.
- ``POST /v1/2fa/verify {"code"}``: turn 2FA on with a current code.
- ``POST /v1/2fa/disable {"code"}``: turn 2FA off; needs a current code.
- ``POST /v1/withdrawal-addresses {"asset", "address", "label", "totp_code"?}``: whitelist an
  address; usable after ``settings.withdrawal_address_delay_seconds``.
- ``GET /v1/withdrawal-addresses[?asset=]``, ``DELETE /v1/withdrawal-addresses/{id}``.

Invariants
- With 2FA on, adding an address needs ``totp_code`` (missing: 403 ``TWO_FACTOR_REQUIRED``;
  wrong or reused: 403 ``INVALID_TWO_FACTOR_CODE``); removing one does not (it only narrows
  what can be withdrawn).
- A caller only ever sees and removes its own addresses; another's is 404 ``NOT_FOUND``.
- The 2FA and whitelist services are made once per app (kept in ``ctx.extras``) and
  shared with the withdrawal route (``TwoFactorDep``, ``AddressBookDep``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field

from spotlab.accounts.addresses import ADDRESS_PATTERN, AddressBook, WithdrawalAddress
from spotlab.accounts.twofactor import TwoFactor
from spotlab.api.context import ApiContext
from spotlab.api.deps import CtxDep, LoginSession
from spotlab.api.schemas import RequestModel, ResponseModel

router = APIRouter(prefix="/v1", tags=["security"])


def _shared(ctx: ApiContext, name: str, make: Callable[[], Any]) -> Any:
    found = ctx.extras.get(name)
    return found if found is not None else ctx.extras.setdefault(name, make())


def two_factor(ctx: CtxDep) -> TwoFactor:
    return _shared(ctx, "two_factor", lambda: TwoFactor(ctx.accounts))


def address_book(ctx: CtxDep) -> AddressBook:
    delay = ctx.settings.withdrawal_address_delay_seconds
    return _shared(ctx, "address_book", lambda: AddressBook(ctx.accounts.engine, ctx.clock, delay))


TwoFactorDep = Annotated[TwoFactor, Depends(two_factor)]
AddressBookDep = Annotated[AddressBook, Depends(address_book)]

TotpCode = Annotated[str, Field(min_length=1, max_length=16, examples=["123456"], description="Current TOTP code.")]
AssetCode = Annotated[str, Field(min_length=1, max_length=16, examples=["USDT"])]


class TwoFactorEnrolment(ResponseModel):
    otpauth_uri: str = Field(examples=["otpauth://totp/spotlab:alice?secret=JBSWY3DPEHPK3PXP&issuer=spotlab"])
    secret: str = Field(
        description="The base32 seed, shown this once (the URI carries it too).", examples=["JBSWY3DPEHPK3PXP"]
    )


class TwoFactorCode(RequestModel):
    code: TotpCode


class TwoFactorStatus(ResponseModel):
    two_factor_enabled: bool = Field(examples=[True])


class AddressCreate(RequestModel):
    asset: AssetCode
    address: Annotated[str, Field(pattern=ADDRESS_PATTERN, examples=["bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"])]
    label: Annotated[str, Field(max_length=100, examples=["cold wallet"])] = ""
    totp_code: TotpCode | None = None


class AddressPublic(ResponseModel):
    id: int = Field(examples=[3])
    asset: str = Field(examples=["BTC"])
    address: str = Field(examples=["bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"])
    label: str = Field(examples=["cold wallet"])
    created_at: datetime = Field(examples=["2024-01-01T12:00:00Z"])
    usable_from: datetime = Field(
        description="Withdrawals to this address are accepted from this time on.", examples=["2024-01-02T12:00:00Z"]
    )


def address_public(entry: WithdrawalAddress) -> AddressPublic:
    return AddressPublic(
        id=entry.id,
        asset=entry.asset,
        address=entry.address,
        label=entry.label,
        created_at=entry.created_at,
        usable_from=entry.usable_from,
    )


@router.post("/2fa", response_model=TwoFactorEnrolment, summary="Start two-factor enrolment (TOTP)")
def enrol_two_factor(principal: LoginSession, two_factor: TwoFactorDep) -> TwoFactorEnrolment:
    enrolment = two_factor.enrol(principal.account)
    return TwoFactorEnrolment(otpauth_uri=enrolment.otpauth_uri, secret=enrolment.secret)


@router.post("/2fa/verify", response_model=TwoFactorStatus, summary="Turn two-factor authentication on")
def verify_two_factor(body: TwoFactorCode, principal: LoginSession, two_factor: TwoFactorDep) -> TwoFactorStatus:
    two_factor.confirm(principal.account, body.code)
    return TwoFactorStatus(two_factor_enabled=True)


@router.post("/2fa/disable", response_model=TwoFactorStatus, summary="Turn two-factor authentication off")
def disable_two_factor(body: TwoFactorCode, principal: LoginSession, two_factor: TwoFactorDep) -> TwoFactorStatus:
    two_factor.disable(principal.account, body.code)
    return TwoFactorStatus(two_factor_enabled=False)


@router.post(
    "/withdrawal-addresses", status_code=201, response_model=AddressPublic, summary="Whitelist a withdrawal address"
)
def add_address(
    body: AddressCreate, principal: LoginSession, ctx: CtxDep, two_factor: TwoFactorDep, book: AddressBookDep
) -> AddressPublic:
    asset = ctx.exchange.asset_spec(body.asset).code
    two_factor.require(principal.account, body.totp_code)
    return address_public(book.add(principal.account, asset, body.address, body.label))


@router.get("/withdrawal-addresses", response_model=list[AddressPublic], summary="The withdrawal whitelist")
def list_addresses(
    principal: LoginSession,
    book: AddressBookDep,
    asset: Annotated[str | None, Query(max_length=16, description="Only this asset's addresses.")] = None,
) -> list[AddressPublic]:
    return [address_public(entry) for entry in book.list(principal.account, asset)]


@router.delete("/withdrawal-addresses/{address_id}", status_code=204, summary="Remove a whitelisted address")
def remove_address(
    address_id: Annotated[int, Path(ge=1, le=2**62)], principal: LoginSession, book: AddressBookDep
) -> Response:
    book.remove(principal.account, address_id)
    return Response(status_code=204)

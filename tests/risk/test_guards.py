"""Each guard refuses with its rule and figures, and allows at its boundary; sells are never refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.guards import (
    NS_PER_MINUTE,
    ClosedTrade,
    check_entry,
    cooldown_guard,
    daily_loss_guard,
    exposure_guard,
    stop_loss_guard,
    trades_per_day_guard,
)
from spotlab.risk.profile import RiskProfile
from spotlab.risk.records import NS_PER_DAY, FillRecord

D = Decimal
DAY = 19_723 * NS_PER_DAY  # 2024-01-01 00:00 UTC
NOON = DAY + NS_PER_DAY // 2


def fill(order_id: int, time_ns: int, side: str = "buy") -> FillRecord:
    return FillRecord(order_id, "BTC/USDT", side, D("100"), D("1"), D("0"), time_ns)


def test_trades_per_day_counts_orders_that_traded_today_and_refuses_at_the_limit():
    profile = RiskProfile(max_trades_per_day=3)
    yesterday = [fill(1, DAY - 1)]
    two = [fill(2, DAY), fill(2, DAY + 5), fill(3, NOON, "sell")]  # order 2 filled twice: one trade
    assert trades_per_day_guard(profile, yesterday + two, NOON) is None
    refusal = trades_per_day_guard(profile, [*two, fill(4, NOON)], NOON)
    assert refusal.rule == "max_trades_per_day" and refusal.figures == {"trades_today": "3", "limit": "3"}
    assert trades_per_day_guard(profile, [*two, fill(4, NOON)], DAY + NS_PER_DAY) is None  # a new UTC day


@pytest.mark.parametrize(("loss", "refused"), [("99.99", False), ("100", True), ("150", True)])
def test_daily_loss_refuses_once_the_loss_reaches_the_amount(loss, refused):
    profile = RiskProfile(max_daily_loss=D("100"))
    closed = [
        ClosedTrade(1, "BTC/USDT", NOON, D("50")),
        ClosedTrade(2, "BTC/USDT", NOON, -D(loss) - 50),
        ClosedTrade(3, "BTC/USDT", DAY - 1, D("-1000")),
    ]  # fmt: skip  (yesterday's loss does not count)
    refusal = daily_loss_guard(profile, closed, NOON + 1, D("10000"))
    assert (refusal is not None) == refused
    if refused:
        assert refusal.figures == {"loss_today": loss, "limit": "100", "currency": "USDT"}


def test_daily_loss_as_a_percentage_of_equity():
    profile = RiskProfile(max_daily_loss_percent=D("2"))
    closed = [ClosedTrade(1, "BTC/USDT", NOON, D("-200"))]
    assert daily_loss_guard(profile, closed, NOON, D("10000.01")) is None  # limit 200.0002
    assert daily_loss_guard(profile, closed, NOON, D("10000")).figures["limit"] == "200"


def test_cooldown_after_n_losses_lasts_until_the_minutes_are_over():
    profile = RiskProfile(cooldown_after_losses=2, cooldown_minutes=30)
    closed = [ClosedTrade(1, "BTC/USDT", NOON - 10, D("5")), ClosedTrade(2, "BTC/USDT", NOON - 5, D("-1")),
              ClosedTrade(3, "BTC/USDT", NOON, D("-2"))]  # fmt: skip
    refusal = cooldown_guard(profile, closed, NOON + 29 * NS_PER_MINUTE)
    assert refusal.rule == "cooldown_after_losses"
    assert refusal.figures["until_ns"] == str(NOON + 30 * NS_PER_MINUTE) and "60 s left" in refusal.message
    assert cooldown_guard(profile, closed, NOON + 30 * NS_PER_MINUTE) is None  # the boundary is allowed
    broken = [*closed[:2], ClosedTrade(3, "BTC/USDT", NOON, D("0"))]  # break-even is not a loss
    assert cooldown_guard(profile, broken, NOON + 1) is None
    assert cooldown_guard(profile, closed[2:], NOON + 1) is None  # fewer than N trades


@pytest.mark.parametrize(("order", "refused"), [("1000", False), ("1000.01", True)])
def test_exposure_refuses_above_the_percentage_and_allows_at_it(order, refused):
    profile = RiskProfile(max_exposure_percent=D("20"))
    refusal = exposure_guard(profile, "BTC", D("1000"), D(order), D("10000"))  # 2,000 = 20 % is allowed
    assert (refusal is not None) == refused
    if refused:
        assert refusal.figures["exposure_after"] == "2000.01" and refusal.figures["percent_after"] == "20.00"
        assert refusal.figures["limit_percent"] == "20"


def test_exposure_refuses_an_order_it_cannot_value():
    refusal = exposure_guard(RiskProfile(max_exposure_percent=D("20")), "ZZZ", D(0), None, D("10000"))
    assert refusal.rule == "max_exposure_percent" and "cannot value" in refusal.message


def test_check_entry_never_refuses_a_sell_and_reports_every_broken_rule_for_a_buy():
    profile = RiskProfile(max_trades_per_day=1, max_daily_loss=D("10"), max_exposure_percent=D("5"))
    records = {"now_ns": NOON, "fills": [fill(1, NOON)], "closed": [ClosedTrade(1, "BTC/USDT", NOON, D("-10"))],
               "equity": D("1000"), "asset_value": D("0"), "order_value": D("100")}  # fmt: skip
    assert check_entry(profile, side="sell", asset="BTC", **records) == []
    refusals = check_entry(profile, side="buy", asset="BTC", **records)
    assert [r.rule for r in refusals] == ["max_trades_per_day", "max_daily_loss", "max_exposure_percent"]
    error = refusals[0].error()
    assert error.code == ErrorCode.RISK_LIMIT and error.details["rule"] == "max_trades_per_day"
    assert check_entry(RiskProfile(), side="buy", asset="BTC", **records) == []  # nothing on: nothing checked


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"risk_per_trade_percent": D("0")}, ErrorCode.INVALID_ARGUMENT),
        ({"max_exposure_percent": D("101")}, ErrorCode.INVALID_ARGUMENT),
        ({"max_daily_loss": D("5"), "max_daily_loss_percent": D("1")}, ErrorCode.INVALID_ARGUMENT),
        ({"max_trades_per_day": 0}, ErrorCode.INVALID_ARGUMENT),
        ({"cooldown_minutes": True}, ErrorCode.INVALID_ARGUMENT),
        ({"max_daily_loss": 1.5}, ErrorCode.INVALID_NUMBER),
    ],
)
def test_a_bad_profile_is_refused_at_construction(fields, code):
    with pytest.raises(SpotlabError) as refused:
        RiskProfile(**fields)
    assert refused.value.code == code


def test_a_profile_round_trips_through_plain_data():
    profile = RiskProfile(max_daily_loss=D("250.5"), max_trades_per_day=10, require_stop_loss=True)
    assert RiskProfile.from_dict(profile.to_dict()) == profile and profile.active()
    with pytest.raises(SpotlabError):
        RiskProfile.from_dict({"max_trade_per_day": 3})


@pytest.mark.parametrize(
    ("order_type", "refused"),
    [("limit", True), ("market", True), ("limit_maker", True), ("bracket", False), ("stop_loss", True),
     ("stop_loss_limit", True), ("take_profit", True), ("trailing_stop", True), ("oco", True)],
)  # fmt: skip
def test_require_stop_loss_refuses_every_buy_but_a_bracket(order_type, refused):
    """A conditional buy enters when it triggers, with no stop behind it; a buy OCO is two such entries."""
    profile = RiskProfile(require_stop_loss=True)
    assert profile.active()  # this rule alone turns the guards on
    records = {"now_ns": NOON, "fills": [], "closed": [], "equity": D("1000"), "asset_value": D("0"),
               "order_value": D("100")}  # fmt: skip
    refusals = check_entry(profile, side="buy", asset="BTC", order_type=order_type, **records)
    assert [r.rule for r in refusals] == (["require_stop_loss"] if refused else [])
    assert check_entry(profile, side="sell", asset="BTC", order_type=order_type, **records) == []
    if refused:
        assert "bracket" in refusals[0].message and refusals[0].figures == {"order_type": order_type, "use": "bracket"}
    assert stop_loss_guard(RiskProfile(), order_type) is None  # off: nothing refused


def test_exposure_counts_the_buys_already_waiting_for_the_asset():
    profile = RiskProfile(max_exposure_percent=D("50"))
    assert exposure_guard(profile, "BTC", D("1000"), D("2000"), D("10000")) is None  # 30 %
    refusal = exposure_guard(profile, "BTC", D("1000"), D("2000"), D("10000"), waiting_value=D("2000.01"))
    assert refusal.figures["exposure_after"] == "5000.01" and refusal.figures["waiting_buys"] == "2000.01"
    assert "2000.01 USDT of buys already waiting" in refusal.message
    assert exposure_guard(profile, "BTC", D("1000"), D("2000"), D("10000"), waiting_value=D("2000")) is None  # 50 %

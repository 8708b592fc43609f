"""Journal endpoints: round trips, annotations, statistics; each account sees only its own journal."""

from __future__ import annotations

from tests.api.conftest import problem


def trade(api, taker, maker, side, price, quantity, clock=None):
    """``taker`` takes ``maker``'s resting order at ``price``; then the clock moves on an hour."""
    other = "sell" if side == "buy" else "buy"
    rest = {"market": "BTC-USDT", "side": other, "type": "limit", "price": price, "quantity": quantity}
    assert maker.post("/v1/orders", rest).status_code == 201
    take = {"market": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": quantity}
    answer = taker.post("/v1/orders", take)
    assert answer.status_code == 201 and answer.json()["status"] == "FILLED", answer.text
    if clock is not None:
        clock.advance(hours=1)


def journal_of_two(api, user, clock):
    """alice: one closed round trip (scaled out in two sells) and one open; bob is the other side."""
    alice, bob = user("alice"), user("bob")
    ex = api.app.state.ctx.exchange
    ex.deposit("alice", "USDT", "100000")
    ex.deposit("bob", "BTC", "10")
    ex.deposit("bob", "USDT", "100000")
    trade(api, alice, bob, "buy", "50000", "0.2", clock)
    trade(api, alice, bob, "sell", "52000", "0.05", clock)
    trade(api, alice, bob, "sell", "53000", "0.15", clock)
    trade(api, alice, bob, "buy", "50000", "0.1", clock)
    return alice, bob


def test_round_trips_list_newest_first_with_their_fills_and_exact_money(api, user, clock):
    alice, _ = journal_of_two(api, user, clock)
    answer = alice.get("/v1/journal/round-trips")
    assert answer.status_code == 200, answer.text
    newest, first = answer.json()["items"]
    assert (newest["status"], newest["number"], newest["pnl"], newest["exit_time"]) == ("open", 2, None, None)
    assert first["id"] == "BTC-USDT-1" and first["market"] == "BTC-USDT" and first["status"] == "closed"
    # cost 10,000 + 10 fee; proceeds 2,600 - 2.6 + 7,950 - 7.95
    assert (first["cost"], first["proceeds"], first["pnl"]) == ("10010.00000000", "10539.45000000", "529.45000000")
    assert first["holding_seconds"] == 7200 and first["exit_price"] == "52750.000"
    assert [(f["side"], f["open_after"]) for f in first["fills"]] == [("buy", "0.20000"), ("sell", "0.15000"),
                                                                       ("sell", "0.00000")]  # fmt: skip
    one = alice.get("/v1/journal/round-trips/BTC-USDT-1")
    assert one.status_code == 200 and one.json() == first
    assert [t["id"] for t in alice.get("/v1/journal/round-trips", params={"status": "open"}).json()["items"]] == [
        newest["id"]
    ]


def test_pages_follow_the_cursor_and_filters_apply(api, user, clock):
    alice, _ = journal_of_two(api, user, clock)
    page = alice.get("/v1/journal/round-trips", params={"limit": 1}).json()
    assert [t["number"] for t in page["items"]] == [2] and page["next_cursor"]
    rest = alice.get("/v1/journal/round-trips", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [t["number"] for t in rest["items"]] == [1] and rest["next_cursor"] is None
    assert alice.get("/v1/journal/round-trips", params={"market": "ETH-USDT"}).json()["items"] == []
    early = alice.get("/v1/journal/round-trips", params={"to": "2024-01-01T01:00:00Z"}).json()["items"]
    assert [t["number"] for t in early] == [1]
    problem(alice.get("/v1/journal/round-trips", params={"market": "NOPE-USDT"}), 404, "UNKNOWN_MARKET")
    problem(alice.get("/v1/journal/round-trips", params={"cursor": "nonsense"}), 422, "VALIDATION_ERROR")


def test_annotations_are_patched_field_by_field_and_bad_ones_change_nothing(api, user, clock):
    alice, _ = journal_of_two(api, user, clock)
    body = {"strategy": "orb-5m", "confidence": 4, "emotion": "calm", "screenshots": ["https://charts.example/1.png"]}
    answer = alice.patch("/v1/journal/round-trips/BTC-USDT-1", body)
    assert answer.status_code == 200, answer.text
    note = answer.json()["annotation"]
    assert (note["strategy"], note["confidence"], note["notes"], note["screenshots"]) == (
        "orb-5m", 4, None, ["https://charts.example/1.png"])  # fmt: skip
    answer = alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"notes": "scaled out too early", "emotion": None})
    note = answer.json()["annotation"]
    assert (note["strategy"], note["notes"], note["emotion"]) == ("orb-5m", "scaled out too early", None)
    bad = alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"screenshots": ["javascript:alert(1)"], "notes": "x"})
    assert "screenshots" in problem(bad, 422, "INVALID_ARGUMENT")["detail"]
    problem(alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"confidence": 7}), 422, "INVALID_ARGUMENT")
    problem(alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"confidance": 3}), 422, "VALIDATION_ERROR")
    problem(alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"confidence": 2.5}), 422, "VALIDATION_ERROR")
    kept = alice.get("/v1/journal/round-trips/BTC-USDT-1").json()["annotation"]
    assert (kept["notes"], kept["confidence"]) == ("scaled out too early", 4)  # unchanged by the refusals
    fill = alice.patch("/v1/journal/fills/2", {"notes": "first exit"})  # a bare trade id: one market has it
    assert fill.status_code == 200, fill.text
    assert fill.json()["fill_id"] == "BTC-USDT-2" and fill.json()["annotation"]["notes"] == "first exit"
    fills = alice.get("/v1/journal/round-trips/BTC-USDT-1").json()["fills"]
    assert fills[1]["annotation"]["notes"] == "first exit" and fills[0]["annotation"] is None


def test_stats_group_the_closed_trips(api, user, clock):
    alice, _ = journal_of_two(api, user, clock)
    alice.patch("/v1/journal/round-trips/BTC-USDT-1", {"strategy": "orb-5m"})
    answer = alice.get("/v1/journal/stats", params={"group_by": "strategy"})
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["groups"]  # the open trip is not counted
    assert (row["group"], row["currency"], row["trades"], row["wins"], row["win_rate"]) == ("orb-5m", "USDT", 1, 1,
                                                                                           1.0)  # fmt: skip
    assert row["net_pnl"] == "529.45000000" and row["fees"] == "20.55000000" and row["gross_pnl"] == "550.00000000"
    assert row["fee_drag"] == 0.0373636  # 20.55 / 550, 6 significant digits
    assert row["profit_factor"] is None and row["average_holding_seconds"] == 7200
    assert alice.get("/v1/journal/stats", params={"group_by": "weekday"}).json()["groups"][0]["group"] == "Monday"
    problem(alice.get("/v1/journal/stats", params={"group_by": "month"}), 422, "VALIDATION_ERROR")


def test_an_account_never_sees_or_changes_another_accounts_journal(api, user, clock):
    alice, bob = journal_of_two(api, user, clock)
    carol = user("carol")
    assert carol.get("/v1/journal/round-trips").json() == {"items": [], "next_cursor": None}
    assert carol.get("/v1/journal/stats").json()["groups"] == []
    problem(carol.get("/v1/journal/round-trips/BTC-USDT-1"), 404, "NOT_FOUND")
    problem(carol.patch("/v1/journal/round-trips/BTC-USDT-1", {"notes": "mine now"}), 404, "NOT_FOUND")
    problem(carol.patch("/v1/journal/fills/BTC-USDT-1", {"notes": "mine now"}), 404, "NOT_FOUND")
    bobs = bob.patch("/v1/journal/fills/BTC-USDT-1", {"notes": "bob's side"})  # one trade, two fills: bob's own
    assert bobs.status_code == 200
    alice_fill = alice.get("/v1/journal/round-trips/BTC-USDT-1").json()["fills"][0]
    assert alice_fill["id"] == "BTC-USDT-1" and alice_fill["annotation"] is None
    assert alice.get("/v1/journal/round-trips/BTC-USDT-1").json()["annotation"] is None
    problem(api.get("/v1/journal/round-trips"), 401, "UNAUTHENTICATED")


def test_a_read_key_reads_the_journal_but_cannot_annotate(api, user, clock):
    alice, _ = journal_of_two(api, user, clock)
    assert alice.signed("GET", "/v1/journal/round-trips", None, "read").status_code == 200
    refused = alice.signed("PATCH", "/v1/journal/round-trips/BTC-USDT-1", {"notes": "x"}, "read")
    problem(refused, 403, "SCOPE_REQUIRED")


def test_the_journal_is_documented_with_examples(api):
    schema = api.get("/v1/openapi.json").json()
    paths = schema["paths"]
    assert {"get", "patch"} <= set(paths["/v1/journal/round-trips/{trip_id}"])
    assert "patch" in paths["/v1/journal/fills/{fill_ref}"] and "get" in paths["/v1/journal/stats"]
    components = schema["components"]["schemas"]
    for name in ("RoundTripPublic", "StatsPublic", "AnnotationUpdate", "FillAnnotationPublic"):
        assert components[name].get("examples"), name

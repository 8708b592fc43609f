-- wrk script of `spotlab bench api`: POST /v1/orders with a bearer token, a new order each request.
--
--   wrk -t1 -c64 -d15s --latency -s bench/wrk/orders.lua http://127.0.0.1:8000 -- TOKENS_FILE TAG [SEED] [MID_CENTS]
--
-- TOKENS_FILE: one bearer token per line (the harness registers, funds and logs in those accounts).
-- TAG: a short run tag ([A-Za-z0-9]) that makes every client_order_id unique across runs on one server.
-- Each request takes the next token in turn and a limit order on BTC-USDT, GTC, 0.001 BTC:
-- buys at mid - 15 .. mid + 5 ticks, sells at mid - 5 .. mid + 15 ticks (a tick is 0.01 USDT), drawn
-- from a seeded generator, so roughly a quarter of them cross and trade and the rest rest.
-- The client_order_id is TAG-<thread>-<counter>: unique per request.
-- At the end, `done` prints one line `WRKJSON {...}` (counts, errors, latency in microseconds) for the harness.

local tokens = {}
local tag = "r"
local counter = 0
local mid = 6000000

function setup(thread)
  thread_count = (thread_count or 0) + 1
  thread:set("tid", thread_count)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
  assert(#tokens > 0, "no token in " .. tostring(args[1]))
  tag = args[2] or tag
  math.randomseed((tonumber(args[3]) or 42) * 1000 + (tid or 1))
  mid = tonumber(args[4]) or mid
end

local function price_text(cents)
  return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

function request()
  counter = counter + 1
  local side, cents
  if math.random(2) == 1 then
    side, cents = "buy", mid + math.random(-15, 5)
  else
    side, cents = "sell", mid + math.random(-5, 15)
  end
  local body = string.format(
    '{"market":"BTC-USDT","side":"%s","type":"limit","price":"%s","quantity":"0.001",'
      .. '"time_in_force":"GTC","client_order_id":"%s-%d-%d"}',
    side, price_text(cents), tag, tid or 1, counter
  )
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = tokens[(counter % #tokens) + 1],
  }
  return wrk.format("POST", "/v1/orders", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end

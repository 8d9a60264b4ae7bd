-- wrk script of the ingestion bench (tests/bench/ingestion.py):
--   wrk -s events.lua URL -- MODE TAG TOKEN [EVENTS]
-- MODE "single": one track event per request; "batch": {"batch": [EVENTS events]}. TAG makes
-- the messageIds of this run unique (with the thread number and a per-thread counter), so no
-- event is a duplicate of another. Each event is about 630 bytes: traits to hash (e-mail and
-- phone, a new visitor each event), properties, IP and user agent, a TC string, Consent Mode.
-- done() prints one line, "BENCH_JSON {...}": requests, duration, latency percentiles, errors,
-- and the status codes and the "accepted" counts of the answers.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local mode, tag, events_per_request
local counter = 0
accepted = 0
duplicates = 0
rejecting = 0
status_2xx = 0
status_other = 0

function init(args)
  mode, tag = args[1], args[2]
  events_per_request = tonumber(args[4] or "100")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  -- TLS ends at the load balancer, which says so (the production settings redirect plain HTTP)
  wrk.headers["X-Forwarded-Proto"] = "https"
end

local EVENT = '{"type":"track","event":"Order Completed","userId":"user-%d-%d",'
  .. '"anonymousId":"anon-%d-%d","messageId":"%s-%d-%d",'
  .. '"timestamp":"2026-11-23T10:15:30.120Z","sentAt":"2026-11-23T10:15:31.000Z",'
  .. '"properties":{"order_id":"A-%d","value":59.9,"currency":"EUR"},'
  .. '"context":{"traits":{"email":"visitor.%d.%d@example.com","phone":"+49 30 %d%06d"},'
  .. '"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",'
  .. '"location":{"country":"DE"},'
  .. '"consent":{"tcString":"CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA",'
  .. '"consentMode":{"ad_user_data":"granted","ad_personalization":"denied"}}}}'

local function event()
  counter = counter + 1
  local n = counter
  return string.format(EVENT, id, n, id, n, tag, id, n, n, id, n, 2 + id, n % 1000000)
end

function request()
  if mode == "batch" then
    local events = {}
    for i = 1, events_per_request do
      events[i] = event()
    end
    return wrk.format(nil, nil, nil, '{"batch":[' .. table.concat(events, ",") .. "]}")
  end
  return wrk.format(nil, nil, nil, event())
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    status_2xx = status_2xx + 1
  else
    status_other = status_other + 1
  end
  local n = body:match('"accepted":(%d+)')
  if n then
    accepted = accepted + tonumber(n)
  end
  n = body:match('"duplicates":(%d+)')
  if n then
    duplicates = duplicates + tonumber(n)
  end
  if body:find('"rejected":%[{') then
    rejecting = rejecting + 1
  end
end

function done(summary, latency, requests)
  local totals = { accepted = 0, duplicates = 0, rejecting = 0, status_2xx = 0, status_other = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"status_2xx":%d,"status_other":%d,"accepted":%d,"duplicates":%d,"rejecting":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout,
    totals.status_2xx, totals.status_other, totals.accepted, totals.duplicates, totals.rejecting
  ))
end

-- wrk script for bench/otlp_load.py: the same Claude-Code-shaped requests as
-- its Python generator, sent by wrk (native, a few µs of CPU per request) so
-- the receivers, not the generator, are what is measured.
--
--   OTLP_WRK_PIECES=P OTLP_WRK_OUT=O [OTLP_WRK_INTERVAL_MS=I] \
--     wrk -t T -c C -d S -s bench/otlp_wrk.lua http://127.0.0.1:PORT
--
-- P (a Lua file written by otlp_load.py) defines THREADS (wrk's -t) and the request templates cut at the
-- places that change per request: LOG_PARTS around the request ids,
-- METRIC_PARTS around the low halves of the fixed64 times (whose high halves
-- are in the template). Each thread alternates a log batch and a metric
-- batch; request ids and times are unique across threads. O receives the
-- results as JSON. I, when set, is the interval in milliseconds between two
-- requests of one thread, on a fixed schedule (as the Python generator does).

dofile(os.getenv("OTLP_WRK_PIECES"))
local interval_ms = tonumber(os.getenv("OTLP_WRK_INTERVAL_MS") or "")
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  logs_sent = 0
end

local function le32(x)
  return string.char(x % 256, math.floor(x / 256) % 256, math.floor(x / 65536) % 256,
                     math.floor(x / 16777216) % 256)
end

local headers = { ["Content-Type"] = "application/x-protobuf" }

-- The value of each slot of a template for the k-th request of its kind.
local function fill(parts, slots, value, k)
  local out = {}
  for i, slot in ipairs(slots) do
    out[2 * i - 1] = parts[i]
    out[2 * i] = value(slot, k)
  end
  out[#out + 1] = parts[#parts]
  return table.concat(out)
end

local function log_value(slot, k)
  return string.format("req_bench_%012d", k * RECORDS + tonumber(slot:sub(3)))
end

local function metric_value(slot, k)
  if slot == "session" then
    return string.format("bench-%02d", k % 50)
  end
  local is_end = slot:sub(1, 3) == "end"
  local seq = k * POINTS + tonumber(slot:sub(is_end and 4 or 6))
  return le32(2 * seq + (is_end and 1 or 0))
end

function request()
  -- the k-th of its kind over all threads: thread_index, thread_index + THREADS, ...
  local k = math.floor(sent / 2) * THREADS + thread_index
  local is_log = sent % 2 == 0
  sent = sent + 1
  if is_log then
    logs_sent = logs_sent + 1
    return wrk.format("POST", "/v1/logs", headers, fill(LOG_PARTS, LOG_SLOTS, log_value, k))
  end
  return wrk.format("POST", "/v1/metrics", headers, fill(METRIC_PARTS, METRIC_SLOTS, metric_value, k))
end

if interval_ms then
  local ffi = require("ffi")
  ffi.cdef [[
    struct timespec { long tv_sec; long tv_nsec; };
    int clock_gettime(int clock, struct timespec *now);
  ]]
  local now = ffi.new("struct timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, now) -- CLOCK_MONOTONIC
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end

  -- Request n of this thread goes at start + n * interval: wrk waits the
  -- whole milliseconds left before sending it.
  function delay()
    next_at_ms = (next_at_ms or now_ms()) + interval_ms
    return math.max(0, math.floor(next_at_ms - now_ms()))
  end
end

function done(summary, latency, requests)
  local sent_total, logs_total = 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    logs_total = logs_total + thread:get("logs_sent")
  end
  local e = summary.errors
  local file = io.open(os.getenv("OTLP_WRK_OUT"), "w")
  file:write(string.format(
    '{"duration_us": %d, "responses": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"sent": %d, "logs_sent": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    sent_total, logs_total, latency:percentile(50), latency:percentile(99), latency.max))
  file:close()
end

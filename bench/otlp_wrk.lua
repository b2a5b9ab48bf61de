-- wrk script for bench/otlp_load.py: the same Claude-Code-shaped requests as
-- its Python generator, sent by wrk (native, 20-40 µs of CPU per request with
-- this script, less than either receiver) so the receivers are what is measured.
--
--   OTLP_WRK_PIECES=P OTLP_WRK_OUT=O [OTLP_WRK_INTERVAL_MS=I] \
--     wrk -t T -c C -d S -s bench/otlp_wrk.lua http://127.0.0.1:PORT
--
-- P (a Lua file written by otlp_load.py) defines THREADS (wrk's -t) and the
-- request templates cut at the places that change per request: LOG_PARTS
-- around the request ids and the records' fixed64 times, METRIC_PARTS around
-- the session and the points' times (stamped with the time of sending, as
-- agents do). Each thread alternates a log batch and a metric batch; request
-- ids and times are unique across threads. O receives the results as JSON.
-- I, when set, is the interval in milliseconds between two requests of one
-- thread, on a fixed schedule (as the Python generator does).

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

local ffi = require("ffi")
ffi.cdef [[
  struct timespec { long tv_sec; long tv_nsec; };
  int clock_gettime(int clock, struct timespec *now);
]]
local now = ffi.new("struct timespec")
local u64 = ffi.new("uint64_t[1]")

-- Now, in whole microseconds, as nanoseconds (a 64-bit integer).
local function now_ns(clock)
  ffi.C.clock_gettime(clock, now)
  return (ffi.cast("uint64_t", now.tv_sec) * 1000000ULL + math.floor(tonumber(now.tv_nsec) / 1000)) * 1000ULL
end

local function fixed64(value)
  u64[0] = value
  return ffi.string(u64, 8)
end

local headers = { ["Content-Type"] = "application/x-protobuf" }

-- The value of each slot of a template for the k-th request of its kind,
-- sent at `t` (ns): times get t plus a part of their sequence number below
-- 1000 ns, so that no two records or points share one.
local function fill(parts, slots, value, k, t)
  local out = {}
  for i, slot in ipairs(slots) do
    out[2 * i - 1] = parts[i]
    out[2 * i] = value(slot, k, t)
  end
  out[#out + 1] = parts[#parts]
  return table.concat(out)
end

local function log_value(slot, k, t)
  if slot:sub(1, 2) == "id" then
    return string.format("req_bench_%012d", k * RECORDS + tonumber(slot:sub(3)))
  end
  return fixed64(t + (k * RECORDS + tonumber(slot:sub(5))) % 1000)
end

local function metric_value(slot, k, t)
  if slot == "session" then
    return string.format("bench-%02d", k % 50)
  end
  local is_end = slot:sub(1, 3) == "end"
  local seq = k * POINTS + tonumber(slot:sub(is_end and 4 or 6))
  return fixed64(t + (2 * seq) % 1000 + (is_end and 1 or 0))
end

function request()
  -- the k-th of its kind over all threads: thread_index, thread_index + THREADS, ...
  local k = math.floor(sent / 2) * THREADS + thread_index
  local is_log = sent % 2 == 0
  sent = sent + 1
  local t = now_ns(0) -- CLOCK_REALTIME
  if is_log then
    logs_sent = logs_sent + 1
    return wrk.format("POST", "/v1/logs", headers, fill(LOG_PARTS, LOG_SLOTS, log_value, k, t))
  end
  return wrk.format("POST", "/v1/metrics", headers, fill(METRIC_PARTS, METRIC_SLOTS, metric_value, k, t))
end

if interval_ms then
  local function now_ms()
    return tonumber(now_ns(1)) / 1e6 -- CLOCK_MONOTONIC
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

-- Shared by the bench wrk scripts (loaded with dofile): counts responses
-- whose status is not the expected one (or whose body lacks an expected
-- substring) per thread, and writes one JSON report to $WRK_OUT in done().
-- Latencies are in microseconds.
local threads = {}
expect_status = tonumber(os.getenv("WRK_EXPECT_STATUS") or "200")
expect_body = os.getenv("WRK_EXPECT_BODY")
if expect_body == "" then expect_body = nil end

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

bad = 0
first_bad = ""

function response(status, headers, body)
  if status ~= expect_status or (expect_body and not string.find(body, expect_body, 1, true)) then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

local function esc(s)
  return (string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end))
end

function done(summary, latency, requests)
  local nbad, fb = 0, ""
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    local f = t:get("first_bad")
    if fb == "" and f and f ~= "" then fb = f end
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"bad":%d,"first_bad":"%s",' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes, nbad, esc(fb),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9))
  local path = os.getenv("WRK_OUT")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end

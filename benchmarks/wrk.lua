-- wrk script of the benchmark suite (benchmarks/tools.py runs it): POSTs the bytes of the file
-- WRK_BODY with the headers in WRK_HEADERS ("Name: value" lines), and at the end writes a JSON
-- summary to the file WRK_OUT (latencies in microseconds), so that nothing parses wrk's text.
-- With WRK_EXPECT set (a status), answers with another status are counted in "unexpected".

local body = io.open(os.getenv("WRK_BODY"), "rb")
wrk.method = "POST"
wrk.body = body:read("*a")
body:close()
for name, value in string.gmatch(os.getenv("WRK_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
  wrk.headers[name] = value
end

local expect = tonumber(os.getenv("WRK_EXPECT") or "")
if expect then
  unexpected = 0
  response = function(status, headers, content)
    if status ~= expect then unexpected = unexpected + 1 end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local other = 0
  for _, thread in ipairs(threads) do other = other + (thread:get("unexpected") or 0) end
  local e = summary.errors
  local out = io.open(os.getenv("WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "seconds": %.6f, "bytes": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "non_2xx": %d, "unexpected": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration / 1e6, summary.bytes, e.connect, e.read, e.write, e.timeout, e.status,
    other, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  out:close()
end

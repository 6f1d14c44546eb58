-- wrk script of the soak (benchmarks/soak.py writes the mix): a weighted mix of requests read from
-- the manifest WRK_MIX, one kind per line: weight, expected status, name, method, path, body file,
-- then "Name: value" headers, tab-separated. Each request carries X-Request-ID: k<index>, which the
-- service sends back, so that each answer is checked against its kind's expected status. At the end
-- a JSON summary goes to the file WRK_OUT (latencies in microseconds, counts per kind).

local kinds, total = {}, 0
for line in io.lines(os.getenv("WRK_MIX")) do
  local f = {}
  for field in string.gmatch(line, "([^\t]*)\t?") do table.insert(f, field) end
  local headers = {}
  for i = 7, #f do
    local name, value = string.match(f[i], "([^:]+):%s*(.*)")
    if name then headers[name] = value end
  end
  headers["X-Request-ID"] = "k" .. (#kinds + 1)
  local content = nil
  if f[6] ~= "" then
    local file = io.open(f[6], "rb")
    content = file:read("*a")
    file:close()
  end
  total = total + tonumber(f[1])
  table.insert(kinds, {weight = tonumber(f[1]), expected = tonumber(f[2]), name = f[3],
                      raw = wrk.format(f[4], f[5], headers, content)})
end

sent, answered, wrong, examples = {}, {}, {}, {}
for i = 1, #kinds do sent[i], answered[i], wrong[i] = 0, 0, 0 end

function init(args) math.randomseed(tonumber(os.getenv("WRK_SEED") or "0") + os.time()) end

function request()
  local pick, i = math.random() * total, 1
  while pick > kinds[i].weight and i < #kinds do pick, i = pick - kinds[i].weight, i + 1 end
  sent[i] = sent[i] + 1
  return kinds[i].raw
end

function response(status, headers, content)
  local id = headers["x-request-id"] or headers["X-Request-ID"] or ""
  local i = tonumber(string.sub(id, 2))
  if not i or not kinds[i] then
    table.insert(examples, "status " .. status .. " with X-Request-ID '" .. id .. "'")
    return
  end
  answered[i] = answered[i] + 1
  if status ~= kinds[i].expected then
    wrong[i] = wrong[i] + 1
    if #examples < 5 then table.insert(examples, kinds[i].name .. ": got " .. status) end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local per = {}
  for i, kind in ipairs(kinds) do
    local s, a, w = 0, 0, 0
    for _, t in ipairs(threads) do s, a, w = s + t:get("sent")[i], a + t:get("answered")[i], w + t:get("wrong")[i] end
    table.insert(per, string.format('"%s": [%d, %d, %d]', kind.name, s, a, w))
  end
  local notes = {}
  for _, t in ipairs(threads) do
    for _, e in ipairs(t:get("examples")) do table.insert(notes, string.format("%q", e)) end
  end
  local e = summary.errors
  local out = io.open(os.getenv("WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "seconds": %.6f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "kinds": {%s}, "examples": [%s]}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, table.concat(per, ", "), table.concat(notes, ", ")))
  out:close()
end

-- W8: 90 % status badges (W1), 9 % builds lists (W6), 1 % artifact downloads (W7), each with
-- its own token, every response checked for its expected status. Paths and tokens come from
-- W1_PATH, W1_TOKEN, W6_PATH, W6_TOKEN, W7_PATH, W7_TOKEN.
local kinds = {
  { path = os.getenv("W1_PATH"), token = os.getenv("W1_TOKEN") },
  { path = os.getenv("W6_PATH"), token = os.getenv("W6_TOKEN") },
  { path = os.getenv("W7_PATH"), token = os.getenv("W7_TOKEN") },
}

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  first_bad = ""
  n = 0
end

function request()
  n = n + 1
  local r = n % 100
  local k = kinds[1]
  if r == 0 then
    k = kinds[3]
  elseif r <= 9 then
    k = kinds[2]
  end
  return wrk.format("GET", k.path, { ["Circle-Token"] = k.token })
end

function response(status, headers, body)
  if status ~= 200 then
    if bad == 0 then first_bad = tostring(status) end
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  local first = ""
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
    if first == "" then first = t:get("first_bad") end
  end
  io.write(string.format("UNEXPECTED %d %s\n", total, first))
end

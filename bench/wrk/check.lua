-- Counts responses whose status or body size differ from what the workload expects, so a
-- benchmark that "got faster" by failing is caught. Reads EXPECT_STATUS and EXPECT_BYTES
-- (body length; -1: any). Request headers come from wrk's own -H.
local expect_status = tonumber(os.getenv("EXPECT_STATUS") or "200")
local expect_bytes = tonumber(os.getenv("EXPECT_BYTES") or "-1")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  if status ~= expect_status or (expect_bytes >= 0 and #body ~= expect_bytes) then
    if bad == 0 then
      first_bad = status .. " (" .. #body .. " bytes)"
    end
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

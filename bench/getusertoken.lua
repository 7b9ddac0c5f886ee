-- wrk script: GET /api/getusertoken with a pre-signed session cookie per user, in rotation.
-- Each wrk thread starts at its own share of the cookie list, so threads do not send the same
-- users at the same moment (which would make coalescing look better than it is).
-- BENCH_START moves every thread's start along, so successive warm-up runs reach new users.
-- At the end, one JSON line with the figures the runner reads (latencies in microseconds).

local cookie_file = os.getenv("BENCH_COOKIES")
local cookie_name = os.getenv("BENCH_COOKIE_NAME") or "session"
local threads = {}
local counter = 0

local function read_cookies()
  local list = {}
  for line in io.lines(cookie_file) do
    if line ~= "" then list[#list + 1] = line end
  end
  return list
end

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
  table.insert(threads, thread)
end

function init(args)
  cookies = read_cookies()
  local threads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  local start = tonumber(os.getenv("BENCH_START") or "0")
  position = start + (offset - 1) * math.floor(#cookies / threads)
  prepared = {}
  for i, value in ipairs(cookies) do
    prepared[i] = wrk.format("GET", "/api/getusertoken", { ["Cookie"] = cookie_name .. "=" .. value })
  end
end

function request()
  position = position + 1
  return prepared[(position % #prepared) + 1]
end

-- The one JSON line the runner reads, shared with the other scripts (bench/report.lua).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
done = require("report").done

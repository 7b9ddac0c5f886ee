-- wrk's done() for every bench script: one line, BENCH_RESULT and a JSON object with the
-- figures bench/run.py reads (latencies in microseconds). A script takes it with
--   package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
--   done = require("report").done
local report = {}

function report.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

return report

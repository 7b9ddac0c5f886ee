-- wrk script: the stand-in vendor alone, POSTing sdkusers/auth as the broker does.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_VENDOR_PATH")
wrk.body = '{"externalId":"bench-user"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_API_KEY")

-- The one JSON line the runner reads, shared with the other scripts (bench/report.lua).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
done = require("report").done

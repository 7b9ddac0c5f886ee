-- wrk script: the stand-in vendor alone, POSTing sdkusers/auth as the broker does.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_VENDOR_PATH")
wrk.body = '{"externalId":"bench-user"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_API_KEY")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

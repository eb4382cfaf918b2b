-- wrk script of `python -m bench enroll`: every request enrolls a new (learner, course) pair.
-- Thread n reads its own requests from <dir>/pairs-<n>.txt (lines "<course id> <access token>"),
-- formats them all up front, and counts the status codes; done() prints one JSON line.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

function init(args)
   requests, statuses, cursor = {}, {}, 0
   for line in io.lines(args[1] .. "/pairs-" .. thread_number .. ".txt") do
      local course, token = line:match("(%S+) (%S+)")
      local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
      requests[#requests + 1] = wrk.format("POST", "/api/courses/" .. course .. "/enroll/", headers, "")
   end
end

function request()
   -- Past the last pair it starts again: those answers are 409s and the benchmark reports them.
   cursor = cursor % #requests + 1
   return requests[cursor]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local totals, counts = {}, {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         totals[status] = (totals[status] or 0) + n
      end
   end
   for status, n in pairs(totals) do
      counts[#counts + 1] = string.format('"%d": %d', status, n)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, '
         .. '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      table.concat(counts, ", ")))
end

-- wrk script: signed inbound SMS webhooks, each with its own MessageSid, from a plan that
-- `loadgen --wrk-plan DIR` wrote (the requests signed before the run, as loadgen signs
-- them: the simulator's body, Twilio's X-Twilio-Signature).
--
--   wrk -t2 -c64 -d10s --latency -s benches/wrk-signed.lua http://127.0.0.1:PORT -- DIR THREADS
--
-- Thread k of THREADS sends requests k, k + THREADS, k + 2 THREADS, ... When a thread has
-- sent every request of its share it starts again from its first (duplicates from then on)
-- and `done` says so: a gateway run that wrapped is not a measurement of new messages.
-- `done` prints one line: `wrk-json {...}` with requests, duration, req/s, latency
-- percentiles (ms), non-2xx/3xx responses, socket errors and whether any thread wrapped.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local plan, sigs, pieces, kinds, npieces
local tid, nthreads, index, wrapped, run_prefix, senders

function init(args)
   local dir = args[1]
   nthreads = tonumber(args[2])
   if dir == nil or nthreads == nil then
      error("usage: wrk ... -s wrk-signed.lua URL -- PLAN_DIR THREADS")
   end
   plan = dofile(dir .. "/plan.lua")
   local f = assert(io.open(dir .. "/signatures.bin", "rb"))
   sigs = f:read("*a")
   f:close()
   assert(#sigs == 28 * plan.count, "signatures.bin does not hold plan.count signatures")
   pieces, kinds, npieces = plan.pieces, plan.kinds, #plan.pieces
   senders = plan.senders
   run_prefix = "SM" .. plan.run_id
   tid = tonumber(wrk.thread:get("tid"))
   index = tid
   wrapped = 0
end

local parts = {}

function request()
   if index >= plan.count then
      index = tid
      wrapped = 1
      wrk.thread:set("wrapped", 1)
   end
   local i = index
   index = index + nthreads
   local sid = run_prefix .. string.format("%016x", i)
   local from = string.format("%07d", i % senders)
   local sig = string.sub(sigs, i * 28 + 1, i * 28 + 28)
   for k = 1, npieces - 1 do
      parts[2 * k - 1] = pieces[k]
      local kind = kinds[k]
      if kind == "sid" then
         parts[2 * k] = sid
      elseif kind == "from" then
         parts[2 * k] = from
      else
         parts[2 * k] = sig
      end
   end
   parts[2 * npieces - 1] = pieces[npieces]
   return table.concat(parts, "", 1, 2 * npieces - 1)
end

function done(summary, latency, requests)
   local any_wrapped = false
   for _, t in ipairs(threads) do
      if t:get("wrapped") == 1 then any_wrapped = true end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'wrk-json {"requests": %d, "duration_s": %.3f, "req_per_s": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "non_2xx": %d, "socket_errors": %d, "wrapped": %s}\n',
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.status, e.connect + e.read + e.write + e.timeout,
      tostring(any_wrapped)))
end

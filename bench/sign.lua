-- wrk script for bench/sign: POSTs the signing form with a unique email per
-- request and counts the answers. Arguments after `--`: a run prefix that
-- keeps emails unique across runs. Addresses arrive in no order, as real
-- signers' do: each starts with a scrambled counter (an address that only
-- counts up would make every index on addresses append at its end, which
-- no real surge does).
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "run"
  counter = 0
  n303 = 0
  nother = 0
end

function request()
  counter = counter + 1
  -- Knuth's multiplicative hash of the counter: unique, in no order.
  local scrambled = (counter * 2654435761) % 4294967296
  local body = "first_name=Ann&last_name=Lee&country=KG&email_opt_in=yes&email=" ..
    string.format("%08x", scrambled) .. "." .. prefix .. "t" .. tid .. "n" .. counter .. "%40bench.example"
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  if status == 303 then n303 = n303 + 1 else nother = nother + 1 end
end

function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n303")
    b = b + t:get("nother")
  end
  io.write(string.format("answers303=%d answers_other=%d\n", a, b))
end

-- wrk script for bench/sign's confirmation run: POSTs /confirm/{token} for
-- the tokens in the file named after `--`, one line each; thread k of n
-- takes every n-th line, so no token is confirmed twice until the file runs
-- out (then requests go round again and confirm nothing new).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  local n = tonumber(args[2]) or 1
  local i = 0
  for line in io.lines(args[1]) do
    if i % n == tid then table.insert(paths, "/confirm/" .. line) end
    i = i + 1
  end
  next_path = 1
  n200 = 0
  nother = 0
end

function request()
  local p = paths[next_path]
  next_path = next_path % #paths + 1
  return wrk.format("POST", p)
end

function response(status, headers, body)
  if status == 200 then n200 = n200 + 1 else nother = nother + 1 end
end

function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n200")
    b = b + t:get("nother")
  end
  io.write(string.format("answers200=%d answers_other=%d\n", a, b))
end

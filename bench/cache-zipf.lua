-- wrk script for bench/cache.ts: GET /v1/features/user/u<k> or POST /v1/predict/fraud for
-- users u<k> drawn Zipf(1.1) over ZIPF_N ids (rank k), merchant m<k % 100>, amount 100.
-- CACHE_TARGET=features|predict, ZIPF_SEED picks the sequence.
local N = tonumber(os.getenv("ZIPF_N") or "1000000")
local target = os.getenv("CACHE_TARGET") or "features"
local cdf = {}
local sum = 0
for k = 1, N do
  sum = sum + 1 / (k ^ 1.1)
  cdf[k] = sum
end
for k = 1, N do cdf[k] = cdf[k] / sum end
math.randomseed(tonumber(os.getenv("ZIPF_SEED") or "2"))
local function draw()
  local u = math.random()
  local lo, hi = 1, N
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo - 1
end
if target == "predict" then
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
end
request = function()
  local k = draw()
  if target == "predict" then
    return wrk.format(nil, "/v1/predict/fraud", nil, string.format('{"entities":{"user":"u%d","merchant":"m%d"},"fields":{"amount":100}}', k, k % 100))
  end
  return wrk.format("GET", string.format("/v1/features/user/u%d", k))
end

-- wrk script: POST /v1/predict/fraud for users 1..1000 and merchants 1..100 in turn.
local n = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  n = n + 1
  local body = string.format('{"entities":{"user":"user-%d","merchant":"merchant-%d"},"fields":{"amount":%d}}', n % 1000 + 1, n % 100 + 1, n % 500 + 1)
  return wrk.format(nil, "/v1/predict/fraud", nil, body)
end

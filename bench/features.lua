-- wrk script: GET /v1/features/user/user-N for users 1..1000 in turn.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("/v1/features/user/user-%d", n % 1000 + 1))
end

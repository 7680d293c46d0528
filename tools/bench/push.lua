-- wrk script: POST /api/v1/push for uids c0..c9999 in turn, with the API key from the env.
local key = os.getenv("TB_API_KEY")
local n = 0
request = function()
  n = n + 1
  local body = '{"uid":"c' .. (n % 10000) .. '","data":{"n":' .. n .. '}}'
  return wrk.format("POST", "/api/v1/push",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end

-- The HTTP call to the system an event is propagated to, and how its answer
-- becomes an outcome the handler runner maps onto a response:
--   2xx                       -> success
--   429, 5xx, no answer       -> statusCode 500: the consumer answers 500 and
--                                the event service retries the delivery
--   other 4xx (and 1xx/3xx)   -> statusCode 400: final, retrying cannot help
-- commerce.lua and backoffice.lua build the URL and the credentials; this
-- module sends. With the target's base URL input empty the call is a dry run:
-- nothing is sent and the request is logged, so the sample app works out of
-- the box.
local logger = require("logger")

local outbound = {}

outbound.TIMEOUT_MS = 10000 -- well inside the action's 60 s limit

-- Inputs whose values must never appear in a message or a log line.
outbound.SECRET_INPUTS = {
  "COMMERCE_CONSUMER_KEY", "COMMERCE_CONSUMER_SECRET", "COMMERCE_ACCESS_TOKEN", "COMMERCE_ACCESS_TOKEN_SECRET",
  "OAUTH_CLIENT_SECRET", "BACKOFFICE_API_KEY",
}

-- An input is set when it is a non-empty string; "$NAME" is what an unset
-- variable looks like in some runtimes (the starter kit checks for it too).
function outbound.is_set(params, name)
  local v = params[name]
  return type(v) == "string" and v ~= "" and v ~= "$" .. name
end

-- text with every secret input's value replaced by <hidden>.
function outbound.scrub(params, text)
  text = tostring(text or "")
  for _, name in ipairs(outbound.SECRET_INPUTS) do
    local secret = params[name]
    if type(secret) == "string" and #secret >= 4 then
      local from = 1
      while true do
        local s, e = string.find(text, secret, from, true)
        if not s then break end
        text = string.sub(text, 1, s - 1) .. "<hidden>" .. string.sub(text, e + 1)
        from = s + #"<hidden>"
      end
    end
  end
  return text
end

local function excerpt(params, text)
  text = outbound.scrub(params, text)
  if #text > 300 then return string.sub(text, 1, 300) .. "..." end
  return text
end

local function decode(text)
  if type(text) ~= "string" or text == "" then return nil end
  local ok, value = pcall(evkit.json.decode, text)
  if ok then return value end
  return nil
end

-- The dry-run outcome for a target whose base URL input is empty.
function outbound.dry_run(params, base_input, request, encoded)
  logger.new("outbound", params.LOG_LEVEL).info("dry run: would send " .. request .. (encoded and (" " .. encoded) or ""))
  return { success = true, dry_run = true, message = "dry run: " .. request .. " (set " .. base_input .. " to send)" }
end

-- Sends one request. spec = {label ("Commerce"), request ("POST V1/products"),
-- method, url, headers, body (already encoded, or nil)}. Returns
--   {success=true, status=, body=<decoded JSON or text>}
--   {success=false, statusCode=400|500, status=<HTTP status or nil>, message=...}
function outbound.http(params, spec)
  local headers = { accept = "application/json" }
  for k, v in pairs(spec.headers or {}) do headers[k] = v end
  if spec.body then headers["content-type"] = "application/json" end
  local res, err = evkit.http.request{
    method = spec.method, url = spec.url, headers = headers, body = spec.body, timeout = outbound.TIMEOUT_MS,
  }
  if not res then
    return { success = false, statusCode = 500,
             message = spec.label .. " API unreachable for " .. spec.request .. ": " .. excerpt(params, err) }
  end
  local status = tonumber(res.status) or 0
  if status >= 200 and status < 300 then
    return { success = true, status = status, body = decode(res.body) or res.body }
  end
  local retryable = status == 429 or status >= 500
  return {
    success = false,
    status = status,
    statusCode = retryable and 500 or 400,
    message = spec.label .. " API answered " .. status .. " to " .. spec.request .. ": " .. excerpt(params, res.body),
  }
end

return outbound

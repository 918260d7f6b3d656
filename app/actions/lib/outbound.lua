-- Calls the API of the system an event is propagated to, and turns the answer
-- into an outcome the handler runner maps onto a response:
--   2xx                       -> success
--   429, 5xx, no answer       -> statusCode 500: the consumer answers 500 and
--                                the event service retries the delivery
--   other 4xx (and 1xx/3xx)   -> statusCode 400: final, retrying cannot help
-- With the target's base URL input empty the call is a dry run: nothing is
-- sent and the request is logged, so the sample app works out of the box.
local url = require("url")
local logger = require("logger")

local outbound = {}

outbound.TIMEOUT_MS = 10000 -- well inside the action's 60 s limit

-- Where each target lives and how it authenticates (inputs of the handlers'
-- actions.config.yaml, from .env).
outbound.targets = {
  commerce = { label = "Commerce", base_input = "COMMERCE_BASE_URL", token_input = "COMMERCE_ACCESS_TOKEN" },
  backoffice = { label = "Back office", base_input = "BACKOFFICE_BASE_URL", token_input = "BACKOFFICE_API_KEY" },
}

local function excerpt(text)
  text = tostring(text or "")
  if #text > 300 then return string.sub(text, 1, 300) .. "..." end
  return text
end

local function decode(text)
  if type(text) ~= "string" or text == "" then return nil end
  local ok, value = pcall(evkit.json.decode, text)
  if ok then return value end
  return nil
end

-- Sends method path (already encoded, e.g. "/V1/products/SKU-1") with body (a
-- table sent as JSON, or nil). Returns
--   {success=true, dry_run=true, message=...}
--   {success=true, status=, body=<decoded JSON or text>}
--   {success=false, statusCode=400|500, message=...}
function outbound.send(params, target_name, method, path, body)
  local target = assert(outbound.targets[target_name], "unknown target " .. tostring(target_name))
  local request = method .. " " .. path
  local encoded = body ~= nil and evkit.json.encode(body) or nil
  local base = params[target.base_input]

  if type(base) ~= "string" or base == "" then
    logger.new("outbound", params.LOG_LEVEL).info("dry run: would send " .. request .. (encoded and (" " .. encoded) or ""))
    return {
      success = true,
      dry_run = true,
      message = "dry run: " .. request .. " (set " .. target.base_input .. " to send)",
    }
  end

  local headers = { accept = "application/json" }
  if encoded then headers["content-type"] = "application/json" end
  local token = params[target.token_input]
  if type(token) == "string" and token ~= "" then headers.authorization = "Bearer " .. token end

  local res, err = evkit.http.request{
    method = method,
    url = url.join(base, path),
    headers = headers,
    body = encoded,
    timeout = outbound.TIMEOUT_MS,
  }
  if not res then
    return { success = false, statusCode = 500,
             message = target.label .. " API unreachable for " .. request .. ": " .. tostring(err) }
  end
  local status = tonumber(res.status) or 0
  if status >= 200 and status < 300 then
    return { success = true, status = status, body = decode(res.body) or res.body }
  end
  local retryable = status == 429 or status >= 500
  return {
    success = false,
    statusCode = retryable and 500 or 400,
    message = target.label .. " API answered " .. status .. " to " .. request .. ": " .. excerpt(res.body),
  }
end

return outbound

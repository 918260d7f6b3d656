-- The generic consumer action: the registration delivers an event to it, it
-- picks the handler for the event type, skips echoes of our own changes, and
-- invokes the handler synchronously, turning the handler's answer into the
-- consumer's result so that the handler's statusCode reaches the event
-- service (400: final, 500: retried) and its Debug Tracing view.
--
-- A package's consumer/index.lua only declares its routes:
--   main = require("consumer").new{
--     package = "product-commerce", provider = "commerce",
--     routes = { ["<event code>"] = { handler = "deleted" | pick function,
--                                     echo = <entities.* records function> } },
--   }
local constants = require("constants")
local responses = require("responses")
local inputs = require("inputs")
local logger = require("logger")
local redact = require("redact")
local guard = require("guard")
local fingerprint = require("fingerprint")

local consumer = {}

-- The entity in the event: the ingestion webhook publishes the back office's
-- value as the event data, while Commerce wraps it in data.value.
local PAYLOAD_PATH = {
  [constants.COMMERCE_PROVIDER_KEY] = "data.value",
  [constants.BACKOFFICE_PROVIDER_KEY] = "data",
}

-- Commerce's timestamps ("2024-08-05 10:03:49", or ISO 8601 with a "T") as
-- comparable seconds; nil when the text is no such timestamp.
local function timestamp(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac = string.match(text, "^(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d)(%.?%d*)")
  if not y then return nil end
  -- Days from the civil date (proleptic Gregorian), so no time zone is involved.
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((mo + 9) % 12) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + (tonumber("0" .. frac) or 0)
end

-- A route handler for Commerce "save" events, which stand for both creation
-- and update: the starter kit tells them apart by comparing created_at and
-- updated_at as dates (Date.parse); text that is no date is compared as is.
function consumer.by_timestamps(created, updated)
  return function(params)
    local missing = inputs.checkMissingRequestInputs(params, { "data.value.created_at", "data.value.updated_at" })
    if missing then return nil, missing end
    local value = params.data.value
    local c, u = timestamp(value.created_at), timestamp(value.updated_at)
    local same
    if c and u then same = c == u else same = value.created_at == value.updated_at end
    return same and created or updated
  end
end

-- The handler's answer as (statusCode, body): a handler answers
-- {statusCode, body = {success, message | error}}, but an action that raised
-- or answered with a top-level error is read too.
local function handler_outcome(result)
  local err = result.error
  if type(err) == "table" then
    local body = type(err.body) == "table" and err.body or { error = evkit.json.encode(err) }
    return tonumber(err.statusCode) or constants.HTTP_INTERNAL_ERROR, body
  elseif err ~= nil then
    return constants.HTTP_INTERNAL_ERROR, { error = tostring(err) }
  end
  local body = type(result.body) == "table" and result.body or {}
  return tonumber(result.statusCode) or (body.success == true and constants.HTTP_OK or constants.HTTP_INTERNAL_ERROR), body
end

function consumer.new(spec)
  local name = spec.package .. "/consumer"
  local payload_path = assert(PAYLOAD_PATH[spec.provider], "unknown provider " .. tostring(spec.provider))

  local function run(params)
    local log = logger.new(name, params.LOG_LEVEL)
    log.info("Start processing request")
    log.debug("Consumer main params: ", redact.params(params))

    local missing_type = inputs.checkMissingRequestInputs(params, { "type" })
    if missing_type then return responses.errorResponse(constants.HTTP_BAD_REQUEST, missing_type) end
    log.info("Params type: ", params.type)

    local route = spec.routes[params.type]
    if not route then
      log.error("Event type not found: ", params.type)
      return responses.errorResponse(constants.HTTP_BAD_REQUEST, "This case type is not supported: " .. tostring(params.type))
    end

    local missing = inputs.checkMissingRequestInputs(params, { payload_path })
    if missing then return responses.errorResponse(constants.HTTP_BAD_REQUEST, missing) end
    local payload = inputs.get(params, payload_path)

    local action = route.handler
    if type(action) == "function" then
      local why
      action, why = action(params)
      if not action then return responses.errorResponse(constants.HTTP_BAD_REQUEST, why) end
    end

    if route.echo and fingerprint.is_echo(route.echo(payload), spec.provider) then
      log.info("Skipping ", params.type, " ", tostring(params.id), ": echo of a change this integration made")
      return responses.successResponse(params.type, { success = true, message = "event is an echo; skipped" })
    end

    local fqn = spec.package .. "/" .. action
    log.info("Invoking ", fqn)
    local result, err = evkit.invoke(fqn, {
      data = payload, type = params.type, id = params.id, source = params.source, time = params.time,
    })
    if not result then
      log.error("Unable to invoke ", fqn, ": ", err)
      return responses.errorResponse(constants.HTTP_INTERNAL_ERROR, "Unable to invoke " .. fqn .. ": " .. tostring(err))
    end

    local statusCode, body = handler_outcome(result)
    if statusCode >= 200 and statusCode < 300 and body.success == true then
      log.info("Successful request: ", statusCode)
      return responses.successResponse(params.type, body)
    end
    -- Anything else is a failure; one that claims success without 2xx is
    -- retried rather than lost.
    if statusCode < 400 then statusCode = constants.HTTP_INTERNAL_ERROR end
    local message = body.error ~= nil and tostring(body.error) or "the handler answered without success"
    log.error("Error response: ", statusCode, " ", message)
    return responses.errorResponse(statusCode, message)
  end

  return guard.wrap(name, run, function(message)
    return responses.errorResponse(constants.HTTP_INTERNAL_ERROR, message)
  end)
end

return consumer

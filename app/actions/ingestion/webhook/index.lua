-- ingestion/webhook: authenticate, validate, publish the event to the
-- backoffice provider (starter kit: actions/ingestion/webhook/index.js).
-- The request's data.uid is the idempotency key, so a sender that retries
-- after a lost answer does not publish the event twice.
local constants = require("constants")
local responses = require("responses")
local logger = require("logger")
local redact = require("redact")
local guard = require("guard")
local auth = require("auth")
local validator = require("validator")

local function run(params)
  local log = logger.new("ingestion/webhook", params.LOG_LEVEL)
  log.info("Start processing request")
  log.debug("Webhook main params: ", redact.params(params))

  local authentication = auth.checkAuthentication(params)
  if not authentication.success then
    log.error("Authentication failed with error: ", authentication.message)
    return responses.errorResponse(constants.HTTP_UNAUTHORIZED, authentication.message)
  end

  local validation = validator.validateData(params)
  if not validation.success then
    log.error("Validation failed with error: ", validation.message)
    return responses.errorResponse(constants.HTTP_BAD_REQUEST, validation.message)
  end

  local data = params.data
  local published, err, status = evkit.publish(constants.BACKOFFICE_PROVIDER_KEY, data.event,
                                               data.value, { idempotency_key = tostring(data.uid) })
  if not published then
    local message = "Unable to publish event " .. data.event .. ": " .. tostring(err)
    log.error(message)
    if status == "unavailable" then return responses.unavailableResponse(message) end
    return responses.errorResponse(constants.HTTP_INTERNAL_ERROR, message)
  end
  log.info("Event ", data.event, " published as ", tostring(published.id),
           published.duplicate and " (duplicate uid: already published)" or "")
  return responses.successResponse(data.event, { success = true, message = "Event published successfully" })
end

main = guard.wrap("ingestion/webhook", run, function(message)
  return responses.errorResponse(constants.HTTP_INTERNAL_ERROR, message)
end)

-- The response shapes of the starter kit's actions/responses.js, so that a
-- consumer, the event service and the Debug Tracing view read them the same.
local constants = require("constants")

local responses = {}

-- Ingestion webhook and consumer success: HTTP 200 with the event type.
function responses.successResponse(type, response)
  return { statusCode = constants.HTTP_OK, body = { type = type, response = response } }
end

-- Ingestion webhook and consumer failure: a top-level `error`, which the
-- runtime renders as HTTP statusCode with body {"error": message}.
function responses.errorResponse(statusCode, message)
  return { error = { statusCode = statusCode, body = { error = message } } }
end

-- The journal cannot take the event now (a full disk): 503 with Retry-After,
-- so the sender tries again instead of giving up.
function responses.unavailableResponse(message, retryAfter)
  return { error = { statusCode = constants.HTTP_SERVICE_UNAVAILABLE,
                     headers = { ["Retry-After"] = tostring(retryAfter or 5) },
                     body = { error = message } } }
end

-- Event handler success: the consumer reads body.success and body.message.
function responses.actionSuccessResponse(message)
  return { statusCode = constants.HTTP_OK, body = { success = true, message = message } }
end

-- Event handler failure: the consumer propagates statusCode upstream, so 400
-- makes the delivery final and 500 gets it retried.
function responses.actionErrorResponse(statusCode, message)
  return { statusCode = statusCode, body = { success = false, error = message } }
end

return responses

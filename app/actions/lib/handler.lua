-- The generic event handler action: validate -> transform -> preProcess ->
-- send -> postProcess, as the starter kit's handlers do, with the steps in
-- the handler's own small modules:
--   main = require("handler").new{
--     name = "product-backoffice/created",
--     validator = require("validator"),     -- validateData(params) -> {success, message}
--     transformer = require("transformer"), -- transformData(params) -> request body
--     pre = require("pre"),                 -- optional preProcess(params, transformed)
--     sender = require("sender"),           -- sendData(params, transformed, preProcessed) -> outcome (outbound.lua)
--     post = require("post"),               -- optional postProcess(params, transformed, preProcessed, outcome)
--     message = "Product created successfully",
--     echo = require("entities.product").backoffice.saved, -- optional, see fingerprint.lua
--   }
-- params.data is the entity from the event (the consumer unwraps Commerce's
-- data.value); params.type, id, source and time describe the event.
local constants = require("constants")
local responses = require("responses")
local logger = require("logger")
local redact = require("redact")
local guard = require("guard")
local fingerprint = require("fingerprint")

local handler = {}

function handler.new(spec)
  -- The system this handler sends to: <entity>-backoffice handlers send
  -- back-office changes to Commerce, <entity>-commerce handlers the reverse.
  local target = spec.target or (string.find(spec.name, "-backoffice/", 1, true) and "commerce" or "backoffice")
  local function run(params)
    local log = logger.new(spec.name, params.LOG_LEVEL)
    log.info("Start processing request")
    log.debug("Handler main params: ", redact.params(params))

    local validation = spec.validator.validateData(params)
    if not validation.success then
      log.error("Validation failed with error: ", validation.message)
      return responses.actionErrorResponse(constants.HTTP_BAD_REQUEST, validation.message)
    end

    local transformed = spec.transformer.transformData(params)
    local preProcessed = spec.pre and spec.pre.preProcess(params, transformed) or nil

    local outcome = spec.sender.sendData(params, transformed, preProcessed)
    if not outcome.success then
      log.error("Send failed: ", outcome.message)
      return responses.actionErrorResponse(outcome.statusCode or constants.HTTP_INTERNAL_ERROR, outcome.message)
    end
    if outcome.dry_run then
      -- Nothing was sent, so no echo will come back and there is nothing to post-process.
      log.info(outcome.message)
      return responses.actionSuccessResponse(outcome.message)
    end

    if spec.echo then fingerprint.remember(spec.echo(params.data), target) end
    if spec.post then spec.post.postProcess(params, transformed, preProcessed, outcome) end
    log.info(spec.message)
    return responses.actionSuccessResponse(spec.message)
  end

  -- A Lua error is a 500, so the event service retries the delivery.
  return guard.wrap(spec.name, run, function(message)
    return responses.actionErrorResponse(constants.HTTP_INTERNAL_ERROR, message)
  end)
end

return handler

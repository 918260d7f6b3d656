-- Validates the webhook request (starter kit: actions/ingestion/webhook/validator.js):
-- data.uid, data.event and data.value are required, and data.event must be
-- one of the backoffice event codes of onboarding/config/events.json.
local inputs = require("inputs")
local events = require("onboarding.config.events") -- the JSON file, decoded
local constants = require("constants")

local validator = {}

-- Every backoffice code of every entity, as a set.
local accepted = {}
for _, providers in pairs(events) do
  for code in pairs(providers[constants.BACKOFFICE_PROVIDER_KEY] or {}) do accepted[code] = true end
end

function validator.validateData(params)
  local missing = inputs.checkMissingRequestInputs(params, { "data.uid", "data.event", "data.value" })
  if missing then return { success = false, message = missing } end

  -- The uid becomes the idempotency key: text, never "table: 0x...".
  local uid = params.data.uid
  if type(uid) ~= "string" and type(uid) ~= "number" then
    return { success = false, message = "data.uid must be a string (or a number), not a " .. type(uid) }
  end

  local code = params.data.event
  if not accepted[code] then
    return { success = false, message = "Unable to publish event " .. tostring(code) .. ": Unknown event type" }
  end
  return { success = true }
end

return validator

-- sendData(params, transformed, preProcessed) -> an outcome: {success = true, ...}
-- or {success = false, statusCode = 400 (final) | 500 (retried), message}.
local backoffice = require("backoffice")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return backoffice.request(params, "POST", "/customer", transformed)
end

return sender

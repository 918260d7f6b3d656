-- sendData(params, transformed, preProcessed) -> an outcome: {success = true, ...}
-- or {success = false, statusCode = 400 (final) | 500 (retried), message}.
local commerce = require("commerce")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return commerce.addOrderComment(params, params.data.id, transformed)
end

return sender

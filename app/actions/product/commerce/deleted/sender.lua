-- sendData(params, transformed, preProcessed) -> an outcome: {success = true, ...}
-- or {success = false, statusCode = 400 (final) | 500 (retried), message}.
local backoffice = require("backoffice")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return backoffice.request(params, "DELETE", "/product/" .. url.segment(params.data.sku), transformed)
end

return sender

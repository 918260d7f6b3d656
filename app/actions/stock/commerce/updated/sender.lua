-- Sends the change to the back office: PUT /stock/<product_id>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "PUT", "/stock/" .. url.segment(params.data.product_id), transformed)
end

return sender

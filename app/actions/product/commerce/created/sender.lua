-- Sends the change to the back office: POST /product.
local outbound = require("outbound")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "POST", "/product", transformed)
end

return sender

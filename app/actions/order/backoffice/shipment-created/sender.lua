-- Sends the change to Commerce: POST /V1/order/<orderId>/ship.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "POST", "/V1/order/" .. url.segment(params.data.orderId) .. "/ship", transformed)
end

return sender

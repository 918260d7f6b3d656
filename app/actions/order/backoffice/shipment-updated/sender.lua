-- Sends the change to Commerce: POST /V1/shipment.
local outbound = require("outbound")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "POST", "/V1/shipment", transformed)
end

return sender

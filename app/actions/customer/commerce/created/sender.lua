-- Sends the change to the back office: POST /customer.
local outbound = require("outbound")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "POST", "/customer", transformed)
end

return sender

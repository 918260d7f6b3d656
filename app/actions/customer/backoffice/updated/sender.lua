-- Sends the change to Commerce: PUT /V1/customers/<id>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "PUT", "/V1/customers/" .. url.segment(params.data.id), transformed)
end

return sender

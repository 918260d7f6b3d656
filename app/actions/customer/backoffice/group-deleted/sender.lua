-- Sends the change to Commerce: DELETE /V1/customerGroups/<id>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "DELETE", "/V1/customerGroups/" .. url.segment(params.data.id), transformed)
end

return sender

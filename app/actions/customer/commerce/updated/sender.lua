-- Sends the change to the back office: PUT /customer/<id>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "PUT", "/customer/" .. url.segment(params.data.id), transformed)
end

return sender

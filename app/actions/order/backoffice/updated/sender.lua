-- Sends the change to Commerce: POST /V1/orders/<id>/comments.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "POST", "/V1/orders/" .. url.segment(params.data.id) .. "/comments", transformed)
end

return sender

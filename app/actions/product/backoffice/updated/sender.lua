-- Sends the change to Commerce: PUT /V1/products/<sku>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "commerce", "PUT", "/V1/products/" .. url.segment(params.data.sku), transformed)
end

return sender

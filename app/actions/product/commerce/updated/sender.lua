-- Sends the change to the back office: PUT /product/<sku>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "PUT", "/product/" .. url.segment(params.data.sku), transformed)
end

return sender

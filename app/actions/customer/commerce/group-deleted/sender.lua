-- Sends the change to the back office: DELETE /customer-group/<customer_group_id>.
local outbound = require("outbound")
local url = require("url")

local sender = {}

function sender.sendData(params, transformed, preProcessed)
  return outbound.send(params, "backoffice", "DELETE", "/customer-group/" .. url.segment(params.data.customer_group_id), transformed)
end

return sender

-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  -- A status history comment on the order, as the starter kit sends it.
  return {
    statusHistory = {
      comment = "Order status changed to " .. tostring(data.status),
      is_customer_notified = data.notifyCustomer == true and 1 or 0,
      is_visible_on_front = 1,
    },
  }
end

return transformer

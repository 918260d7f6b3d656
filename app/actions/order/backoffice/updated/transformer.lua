-- The status change as an order status history entry (POST
-- /V1/orders/<id>/comments), which is how Commerce's API sets a status.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    statusHistory = {
      parent_id = data.id,
      status = data.status,
      comment = "Status set to " .. data.status .. " in the back office",
      is_customer_notified = data.notifyCustomer == true and 1 or 0,
      is_visible_on_front = 0,
    },
  }
end

return transformer

-- How an order looks to the echo check (see fingerprint.lua): its id and
-- status. The Commerce order event must carry `status` for this to work (add
-- it to the event subscription's fields); shipments are not fingerprinted.
local fp = require("fingerprint")

local function order(id, status)
  return { fp.record("ilk_order_", fp.number(id), { { "id", fp.number(id) }, { "status", status } }) }
end

return {
  commerce = { saved = function(d) return order(d.id, d.status) end },
  backoffice = { status_updated = function(d) return order(d.id, d.status) end },
}

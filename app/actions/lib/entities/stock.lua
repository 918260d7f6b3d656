-- How stock looks to the echo check (see fingerprint.lua): per SKU, quantity
-- and whether it can be sold. The back office sends a list of source items;
-- the Commerce stock item event is fingerprinted only when it carries `sku`
-- (add it to the event subscription's fields), since product_id means
-- nothing to the back office.
local fp = require("fingerprint")

local function item(sku, quantity, in_stock)
  return fp.record("ilk_stock_", sku, {
    { "sku", sku }, { "quantity", fp.number(quantity) }, { "in_stock", in_stock },
  })
end

return {
  commerce = {
    saved = function(d)
      return { item(d.sku, d.qty, fp.number(d.is_in_stock) == 1 or d.is_in_stock == true) }
    end,
  },
  backoffice = {
    updated = function(items)
      local records = {}
      if type(items) ~= "table" then return records end
      for _, entry in ipairs(items) do
        if type(entry) == "table" then records[#records + 1] = item(entry.sku, entry.quantity, entry.outOfStock == false) end
      end
      return records
    end,
  },
}

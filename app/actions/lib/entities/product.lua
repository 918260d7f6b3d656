-- How a product looks to the loop breaker (see fingerprint.lua), as in the
-- starter kit's product consumers: key "ilk_<sku>", fingerprint of
-- {product = sku, description}. Name and price are not compared (the kit's
-- choice; the Commerce event subscription carries no price): add fields here
-- to compare more. A deletion is fingerprinted as {product, deleted = true},
-- so that the delete event coming back from the other side is an echo too.
local fp = require("fingerprint")

local function saved(data)
  return { fp.record("ilk_", data.sku, { { "product", data.sku }, { "description", data.description } }) }
end

local function deleted(data)
  return { fp.record("ilk_", data.sku, { { "product", data.sku }, { "deleted", true } }) }
end

-- Both systems use the same field names for products.
return {
  commerce = { saved = saved, deleted = deleted },
  backoffice = { saved = saved, deleted = deleted },
}

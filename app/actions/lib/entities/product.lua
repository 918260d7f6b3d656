-- How a product looks to the echo check (see fingerprint.lua). The SKU is the
-- identity both systems share. Only fields both systems' events carry are
-- compared: the Commerce event subscription has no price, so price is left
-- out; add it here once both sides send it.
local fp = require("fingerprint")

local function saved(data)
  return { fp.record("product", data.sku, {
    { "sku", data.sku }, { "name", data.name }, { "description", data.description },
  }) }
end

local function deleted(data)
  return { fp.record("product", data.sku, { { "sku", data.sku }, { "deleted", true } }) }
end

-- Both systems use the same field names for products.
return {
  commerce = { saved = saved, deleted = deleted },
  backoffice = { saved = saved, deleted = deleted },
}

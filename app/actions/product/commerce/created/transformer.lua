-- The Commerce product as a back-office product (POST /product); the back
-- office identifies products by SKU and keeps Commerce's id as commerceId.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { sku = data.sku, name = data.name, description = data.description, commerceId = data.id }
end

return transformer

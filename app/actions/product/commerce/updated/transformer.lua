-- The Commerce product as a back-office product update (PUT /product/<sku>).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { sku = data.sku, name = data.name, description = data.description, commerceId = data.id }
end

return transformer

-- The changed fields as a Commerce product update (PUT /V1/products/<sku>).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    product = {
      sku = data.sku,
      name = data.name,
      price = data.price,
      custom_attributes = evkit.json.array{ { attribute_code = "description", value = data.description } },
    },
  }
end

return transformer

-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    product = {
      sku = data.sku,
      name = data.name,
      price = data.price,
      attribute_set_id = 4,
      custom_attributes = evkit.json.array{ { attribute_code = "description", value = data.description } },
    },
  }
end

return transformer

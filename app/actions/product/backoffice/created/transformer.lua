-- The back-office product as a Commerce product (POST /V1/products).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    product = {
      sku = data.sku,
      name = data.name,
      price = data.price or 0, -- optional in the back office, required by Commerce
      -- A new Commerce product needs an attribute set and a type: 4 is the
      -- Default attribute set of a fresh installation.
      attribute_set_id = 4,
      type_id = "simple",
      status = 1,     -- enabled
      visibility = 4, -- catalog and search
      custom_attributes = evkit.json.array{ { attribute_code = "description", value = data.description } },
    },
  }
end

return transformer

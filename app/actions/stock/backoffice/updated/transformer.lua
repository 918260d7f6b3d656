-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local items = {}
  for i, entry in ipairs(params.data) do
    items[i] = {
      sku = entry.sku,
      source_code = entry.source,
      quantity = entry.quantity,
      status = entry.outOfStock and 0 or 1, -- 1: in stock
    }
  end
  return { sourceItems = evkit.json.array(items) }
end

return transformer

-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { group = { code = data.name, tax_class_id = data.taxClassId } }
end

return transformer

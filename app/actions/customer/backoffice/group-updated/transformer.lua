-- The back-office group as a Commerce customer group update
-- (PUT /V1/customerGroups/<id>).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { group = { id = data.id, code = data.name, tax_class_id = data.taxClassId } }
end

return transformer

-- The back-office group as a Commerce customer group (POST /V1/customerGroups):
-- the back office's name is Commerce's group code.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { group = { code = data.name, tax_class_id = data.taxClassId } }
end

return transformer

-- The Commerce group in the back office's shape (PUT /customer-group/<id>).
-- Commerce's save event does not tell creation from update, so the back
-- office is expected to create the group when the id is new (an upsert).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    id = tonumber(data.customer_group_id) or data.customer_group_id,
    name = data.customer_group_code,
    taxClassId = tonumber(data.tax_class_id) or data.tax_class_id,
  }
end

return transformer

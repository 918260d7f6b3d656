-- The Commerce order in the back office's shape (PUT /order/<id>).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return {
    id = tonumber(data.id) or data.id,
    incrementId = data.increment_id,
    status = data.status,
    updatedAt = data.updated_at,
  }
end

return transformer

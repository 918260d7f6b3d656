-- The Commerce customer in the back office's shape (POST /customer): the
-- back office calls the first name `name` and keys customers by Commerce's id.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { id = tonumber(data.id) or data.id, name = data.firstname, lastname = data.lastname, email = data.email }
end

return transformer

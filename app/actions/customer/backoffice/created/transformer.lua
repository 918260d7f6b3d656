-- The back-office customer as a Commerce customer (POST /V1/customers); the
-- back office calls the first name `name`.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { customer = { email = data.email, firstname = data.name, lastname = data.lastname } }
end

return transformer

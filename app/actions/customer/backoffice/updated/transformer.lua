-- The back-office customer as a Commerce customer update (PUT
-- /V1/customers/<id>); the back office keeps Commerce's customer id.
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { customer = { id = data.id, email = data.email, firstname = data.name, lastname = data.lastname } }
end

return transformer

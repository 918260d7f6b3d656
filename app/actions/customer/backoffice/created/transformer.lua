-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  return { customer = { email = data.email, firstname = data.name, lastname = data.lastname } }
end

return transformer

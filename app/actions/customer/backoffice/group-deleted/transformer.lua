-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  -- The Commerce group id: it travels in the URL, a deletion sends no body.
  return params.data.id
end

return transformer

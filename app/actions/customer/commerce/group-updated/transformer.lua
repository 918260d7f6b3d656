-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  -- The entity as Commerce sent it (the starter kit's transformer passes it
  -- through unchanged); map it to your back office's fields here.
  return params.data
end

return transformer

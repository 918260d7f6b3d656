-- A deletion sends no body: the id travels in the URL (see sender.lua).
local transformer = {}

function transformer.transformData(params)
  return nil
end

return transformer

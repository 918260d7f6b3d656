-- Request input checks shared by the webhook and the consumers (the starter
-- kit's utils.js checkMissingRequestInputs).
local inputs = {}

-- Missing as the starter kit understands it: absent, JSON null, or "" (an
-- unset .env variable resolves to "").
function inputs.is_missing(value)
  return value == nil or value == evkit.json.null or value == ""
end

-- The value at a dotted path ("data.value.sku"), nil when any step is not a table.
function inputs.get(params, path)
  local node = params
  for step in string.gmatch(path, "[^.]+") do
    if type(node) ~= "table" then return nil end
    node = node[step]
  end
  return node
end

-- nil when every path is present, else the starter kit's message:
-- "missing parameter(s) 'data.uid, data.value'" (paths in the given order).
function inputs.checkMissingRequestInputs(params, required)
  local missing = {}
  for _, path in ipairs(required) do
    if inputs.is_missing(inputs.get(params, path)) then missing[#missing + 1] = path end
  end
  if #missing == 0 then return nil end
  return "missing parameter(s) '" .. table.concat(missing, ", ") .. "'"
end

return inputs

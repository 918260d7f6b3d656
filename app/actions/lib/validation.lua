-- A handler's validator: checks params.data against the handler's JSON
-- Schema (schema.json, the starter kit's, which require("schema") decodes)
-- with evkit's validator, evkit.schema.validate, and says which fields fail, e.g.
--   Data provided does not validate with the schema: 'data.name' is required;
--   'data.price' must be a number, got string
-- (the kit only says "does not validate"). The handler answers 400 with it.
local validation = {}

-- A JSON Pointer into the data ("/items/0/qty") as the field a user knows
-- ("data.items[0].qty").
function validation.field(pointer)
  local out = "data"
  for token in string.gmatch(pointer or "", "/([^/]*)") do
    token = string.gsub(string.gsub(token, "~1", "/"), "~0", "~")
    if string.match(token, "^%d+$") then out = out .. "[" .. token .. "]" else out = out .. "." .. token end
  end
  return out
end

-- nil when value satisfies schema, else every problem, in field order, joined with "; ".
function validation.check(schema, value)
  local ok, errors = evkit.schema.validate(schema, value)
  if ok then return nil end
  local problems = {}
  for i, e in ipairs(errors) do problems[i] = "'" .. validation.field(e.path) .. "' " .. e.message end
  table.sort(problems)
  return table.concat(problems, "; ")
end

-- The validator module of a handler: validateData(params) answers like the
-- starter kit's validators, {success = true} or {success = false, message}.
-- Business rules go in the handler's validator.lua, around this.
function validation.validator(schema)
  return {
    validateData = function(params)
      local data = params.data
      if data == nil then data = evkit.json.null end
      local problem = validation.check(schema, data)
      if problem then
        return { success = false, message = "Data provided does not validate with the schema: " .. problem }
      end
      return { success = true }
    end,
  }
end

return validation

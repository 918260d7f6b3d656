-- Validates event data against a JSON Schema held as a Lua table (the
-- handlers' schema.json, turned into schema.lua by scripts/gen-events-lua.py
-- because actions cannot read files). It covers the keywords the starter kit's
-- schemas use: type (a name or a list), properties, required,
-- additionalProperties (boolean), items, enum. Other keywords are ignored.
--
-- Every problem is reported with the path of the field, e.g.
--   'data.price' must be a number, got string
-- so that a rejected sample event says why (a common onboarding complaint).
local schema_validator = {}

local function is_null(v) return v == nil or v == evkit.json.null end

-- JSON arrays and objects both decode to tables: an array is a table whose
-- keys are exactly 1..n; the empty table passes as either.
local function is_array(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local function is_object(v)
  if type(v) ~= "table" or v == evkit.json.null then return false end
  return next(v) == nil or not is_array(v)
end

local function json_type(v)
  if is_null(v) then return "null" end
  local t = type(v)
  if t == "string" then return "string" end
  if t == "boolean" then return "boolean" end
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then return is_array(v) and next(v) ~= nil and "array" or "object" end
  return t
end

local CHECK = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = function(v) return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v)) end,
  boolean = function(v) return type(v) == "boolean" end,
  null = function(v) return v == evkit.json.null end,
  array = is_array,
  object = is_object,
}

local ARTICLE = { array = "an array", object = "an object", integer = "an integer" }
local function named(t) return ARTICLE[t] or ("a " .. t) end

local function type_list(schema)
  if type(schema.type) == "string" then return { schema.type } end
  return schema.type
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local validate

local function validate_object(schema, value, path, errors)
  local properties = schema.properties or {}
  for _, name in ipairs(schema.required or {}) do
    if is_null(value[name]) then errors[#errors + 1] = "'" .. path .. "." .. name .. "' is required" end
  end
  for _, name in ipairs(sorted_keys(properties)) do
    if not is_null(value[name]) then validate(properties[name], value[name], path .. "." .. name, errors) end
  end
  if schema.additionalProperties == false then
    for _, name in ipairs(sorted_keys(value)) do
      if properties[name] == nil then errors[#errors + 1] = "'" .. path .. "." .. tostring(name) .. "' is not allowed" end
    end
  end
end

validate = function(schema, value, path, errors)
  local types = type_list(schema)
  if types then
    local ok = false
    for _, t in ipairs(types) do
      if CHECK[t] and CHECK[t](value) then ok = true break end
    end
    if not ok then
      local wanted = {}
      for i, t in ipairs(types) do wanted[i] = named(t) end
      errors[#errors + 1] = "'" .. path .. "' must be " .. table.concat(wanted, " or ") .. ", got " .. json_type(value)
      return
    end
  end
  if schema.enum then
    local ok = false
    for _, allowed in ipairs(schema.enum) do
      if allowed == value then ok = true break end
    end
    if not ok then errors[#errors + 1] = "'" .. path .. "' is not one of the allowed values" end
  end
  if is_object(value) and (schema.properties or schema.required or schema.additionalProperties == false) then
    validate_object(schema, value, path, errors)
  end
  if schema.items and is_array(value) then
    for i, item in ipairs(value) do validate(schema.items, item, path .. "[" .. (i - 1) .. "]", errors) end
  end
end

-- nil when value satisfies schema, else every problem joined with "; ".
-- path names the value in messages ("data").
function schema_validator.check(schema, value, path)
  local errors = {}
  validate(schema, value, path or "data", errors)
  if #errors == 0 then return nil end
  return table.concat(errors, "; ")
end

-- A handler's validator module: validateData(params) checks params.data and
-- answers like the starter kit's validators.
function schema_validator.validator(schema)
  return {
    validateData = function(params)
      local problem = schema_validator.check(schema, params.data, "data")
      if problem then
        return { success = false, message = "Data provided does not validate with the schema: " .. problem }
      end
      return { success = true }
    end,
  }
end

return schema_validator

-- A stand-in for evkit.schema.validate (evkit's C JSON Schema validator) in
-- the offline harness, for the keywords the starter kit's schemas use: type,
-- properties, required, additionalProperties (boolean), items, enum. Errors
-- come as evkit gives them: {path = JSON Pointer, keyword, message}.
local json = require("json")

local schema = {}

local function is_null(v) return v == nil or v == json.null end

local function is_array(v)
  if type(v) ~= "table" or v == json.null then return false end
  if getmetatable(v) and json.is_array and json.is_array(v) then return true end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v and n > 0
end

local function is_object(v)
  return type(v) == "table" and v ~= json.null and not is_array(v)
end

local function json_type(v)
  if is_null(v) then return "null" end
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then return is_array(v) and "array" or "object" end
  return t
end

local CHECK = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = function(v) return type(v) == "number" and v == math.floor(v) end,
  boolean = function(v) return type(v) == "boolean" end,
  null = function(v) return v == json.null end,
  array = is_array,
  object = is_object,
}

local function want(types)
  local out = (string.find("aeiou", types[1]:sub(1, 1), 1, true) and "an " or "a ") .. types[1]
  for i = 2, #types do out = out .. (i == #types and " or " or ", ") .. types[i] end
  return out
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function check(s, value, path, errors)
  local function fail(p, keyword, message) errors[#errors + 1] = { path = p, keyword = keyword, message = message } end
  local types = type(s.type) == "string" and { s.type } or s.type
  if types then
    local ok = false
    for _, t in ipairs(types) do if CHECK[t](value) then ok = true end end
    if not ok then return fail(path, "type", "must be " .. want(types) .. ", got " .. json_type(value)) end
  end
  if s.enum then
    local ok = false
    for _, allowed in ipairs(s.enum) do if allowed == value then ok = true end end
    if not ok then fail(path, "enum", "must be one of the allowed values") end
  end
  if is_object(value) then
    local properties = s.properties or {}
    for _, name in ipairs(s.required or {}) do
      if value[name] == nil then fail(path .. "/" .. name, "required", "is required") end
    end
    for _, name in ipairs(sorted_keys(properties)) do
      if value[name] ~= nil then check(properties[name], value[name], path .. "/" .. name, errors) end
    end
    if s.additionalProperties == false then
      for _, name in ipairs(sorted_keys(value)) do
        if properties[name] == nil then fail(path .. "/" .. tostring(name), "additionalProperties", "is not allowed (not a known property)") end
      end
    end
  end
  if s.items and is_array(value) then
    for i, item in ipairs(value) do check(s.items, item, path .. "/" .. (i - 1), errors) end
  end
end

function schema.validate(s, value)
  local errors = {}
  check(s, value, "", errors)
  return #errors == 0, json.array(errors)
end

return schema

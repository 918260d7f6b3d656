-- Just enough YAML for the harness to read the app's own manifests (block
-- mappings and sequences, plain and quoted scalars, `$include`), so that the
-- checks use the declared actions, inputs and registrations rather than a
-- copy of them. Not a general YAML parser.
local yaml = {}

-- The file each included mapping came from (paths in it are relative to it).
yaml.source = setmetatable({}, { __mode = "k" })

local function scalar(text)
  local quoted = text:match("^'(.*)'$") or text:match('^"(.*)"$')
  if quoted then return quoted end
  if text == "true" then return true end
  if text == "false" then return false end
  if text == "null" or text == "~" or text == "" then return nil end
  return math.tointeger(tonumber(text)) or tonumber(text) or text
end

local function lines_of(text)
  local lines = {}
  for raw in (text .. "\n"):gmatch("(.-)\n") do
    local indent, body = raw:match("^( *)(.-)%s*$")
    if body ~= "" and not body:match("^#") then lines[#lines + 1] = { indent = #indent, text = body } end
  end
  return lines
end

local parse_node

local function parse_mapping(lines, i, indent)
  local map = {}
  while lines[i] and lines[i].indent == indent and not lines[i].text:match("^%- ") do
    local key, rest = lines[i].text:match("^([^:]+):%s*(.*)$")
    if not key then error("yaml: cannot read line '" .. lines[i].text .. "'") end
    if rest == "" then
      if lines[i + 1] and lines[i + 1].indent > indent then
        map[key], i = parse_node(lines, i + 1, lines[i + 1].indent)
      else
        i = i + 1
      end
    else
      map[key] = scalar(rest)
      i = i + 1
    end
  end
  return map, i
end

local function parse_sequence(lines, i, indent)
  local seq = {}
  while lines[i] and lines[i].indent == indent and lines[i].text:match("^%- ") do
    local item = lines[i].text:sub(3)
    if item:match("^[^'\"][^:]*:%s") or item:match("^[^'\"][^:]*:$") then
      -- "- key: value": a mapping whose other keys are indented past the dash.
      lines[i] = { indent = indent + 2, text = item }
      seq[#seq + 1], i = parse_mapping(lines, i, indent + 2)
    else
      seq[#seq + 1] = scalar(item)
      i = i + 1
    end
  end
  return seq, i
end

parse_node = function(lines, i, indent)
  if lines[i].text:match("^%- ") then return parse_sequence(lines, i, indent) end
  return parse_mapping(lines, i, indent)
end

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  return text
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- Replaces every {$include: path} mapping by the parsed file.
local function resolve(value, base)
  if type(value) ~= "table" then return value end
  if value["$include"] then
    local path = base .. "/" .. value["$include"]:gsub("^%./", "")
    local included = yaml.load(path)
    yaml.source[included] = path
    return included
  end
  for k, v in pairs(value) do value[k] = resolve(v, base) end
  return value
end

function yaml.parse(text)
  local lines = lines_of(text)
  if #lines == 0 then return {} end
  return (parse_node(lines, 1, lines[1].indent))
end

function yaml.load(path)
  return resolve(yaml.parse(read(path)), dirname(path))
end

return yaml

-- A stand-in for evkit around the app: reads the app's manifests, runs
-- actions in a sandbox shaped like evkit's (global `evkit`, `require` from the
-- action's folder then actions/lib, no io/load/os except time, clock, date,
-- strict globals), and fakes what evkit provides: in-memory state with TTL
-- on a fake clock, a recording publish, an invoke that runs the real action
-- with its declared inputs, and an HTTP client answering from a test's
-- responder. Params and results go through JSON as they would in evkit.
local json = require("json")
local yaml = require("yaml")
local sha = require("sha256")
local base64 = require("base64")
local schema = require("schema")

local World = {}
World.__index = World

local SAFE = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type",
  "xpcall", "setmetatable", "getmetatable", "rawequal", "rawget", "rawset", "rawlen",
  "string", "table", "math", "utf8", "coroutine",
}

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- app: the app folder. env: the $VARs (.env) as a table.
function World.new(app, env)
  local self = setmetatable({}, World)
  self.app = app
  self.lib = app .. "/actions/lib"
  self.env = env or {}
  self.clock = 1700000000
  self.store = {}
  self.published = {}
  self.by_uid = {}
  self.http_calls = {}
  self.invocations = {}
  self.logs = {}
  self.http = function() return { status = 200, headers = {}, body = "{}" } end
  self.config = yaml.load(app .. "/app.config.yaml")
  self.actions = {}
  for pkg, def in pairs(self.config.application.runtimeManifest.packages) do
    local base = dirname(yaml.source[def.actions])
    for name, action in pairs(def.actions) do
      action.path = base .. "/" .. action["function"]:gsub("^%./", "")
      action.fqn = pkg .. "/" .. name
      self.actions[action.fqn] = action
    end
  end
  self.evkit = self:make_evkit()
  return self
end

function World:now() return self.clock end

function World:make_evkit()
  local world = self
  local function logger(level)
    return function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      world.logs[#world.logs + 1] = level .. ": " .. table.concat(parts, " ", 1, parts.n)
    end
  end
  local uuid_n = 0
  local function uuid()
    uuid_n = uuid_n + 1
    return string.format("00000000-0000-4000-8000-%012d", uuid_n)
  end
  local evkit = {
    json = { encode = json.encode, decode = json.decode, null = json.null, array = json.array },
    log = { debug = logger("debug"), info = logger("info"), warn = logger("warn"), error = logger("error") },
    schema = { validate = schema.validate },
    crypto = {
      sha256 = sha.sha256, hmac_sha256 = sha.hmac_sha256, hex = sha.hex,
      base64_encode = base64.encode, base64_decode = base64.decode,
      equals = function(a, b) return type(a) == "string" and type(b) == "string" and a == b end,
      uuid = uuid,
    },
    state = {
      get = function(key)
        local entry = world.store[key]
        if entry and (not entry.expires or entry.expires > world:now()) then return entry.value end
        return nil
      end,
      put = function(key, value, opts)
        world.store[key] = { value = value, expires = opts and opts.ttl and world:now() + opts.ttl or nil }
        return true
      end,
      delete = function(key) world.store[key] = nil return true end,
    },
    http = {
      request = function(req)
        world.http_calls[#world.http_calls + 1] = req
        return world.http(req)
      end,
    },
  }
  evkit.publish = function(provider, type_, data, opts)
    if world.publish_error then return nil, world.publish_error end
    local key = opts and opts.idempotency_key
    if key and world.by_uid[provider .. "\0" .. key] then
      return { id = world.by_uid[provider .. "\0" .. key].id, duplicate = true, position = world.by_uid[provider .. "\0" .. key].position }
    end
    local event = { provider = provider, type = type_, data = json.decode(json.encode(data)), id = uuid(),
                    idempotency_key = key, position = #world.published + 1 }
    world.published[#world.published + 1] = event
    if key then world.by_uid[provider .. "\0" .. key] = event end
    return { id = event.id, duplicate = false, position = event.position }
  end
  evkit.invoke = function(fqn, params)
    local result, err = world:invoke(fqn, params)
    if not result then return nil, err end
    return result, { activationId = string.rep("0", 32), status = "success" }
  end
  return evkit
end

-- A fresh sandbox whose require looks in dir, then actions/lib.
function World:sandbox(dir)
  local world = self
  local env = {}
  for _, name in ipairs(SAFE) do env[name] = _G[name] end
  env.os = { time = os.time, clock = os.clock, date = os.date }
  env.evkit = self.evkit
  env.print = function(...) world.evkit.log.info(...) end
  local loaded = { evkit = self.evkit }
  env.require = function(name)
    if loaded[name] ~= nil then return loaded[name] end
    local rel = name:gsub("%.", "/") .. ".lua"
    for _, base in ipairs({ dir, world.lib }) do
      local path = base .. "/" .. rel
      if exists(path) then
        local chunk = assert(loadfile(path, "t", env))
        local value = chunk(name)
        if value == nil then value = true end
        loaded[name] = value
        return value
      end
    end
    error("module '" .. name .. "' not found", 2)
  end
  -- Strict globals: a typo or a missing sandbox facility fails loudly.
  setmetatable(env, {
    __index = function(_, k) error("undefined global '" .. tostring(k) .. "'", 2) end,
    __newindex = function(t, k, v)
      if k ~= "main" then error("assignment to global '" .. tostring(k) .. "'", 2) end
      rawset(t, k, v)
    end,
  })
  return env
end

-- A module of actions/lib, loaded in a sandbox (for unit tests of the lib).
function World:module(name)
  return self:sandbox(self.lib).require(name)
end

-- Loads an action's main in a fresh sandbox (every invocation is a cold start).
function World:load(action)
  local env = self:sandbox(dirname(action.path))
  assert(loadfile(action.path, "t", env))()
  return assert(rawget(env, "main"), action.path .. " defines no main")
end

local function resolve_inputs(world, action)
  local params = {}
  for k, v in pairs(action.inputs or {}) do
    if type(v) == "string" and v:match("^%$") then v = world.env[v:sub(2)] or "" end
    params[k] = v
  end
  return params
end

-- Runs fqn with request params as evkit would: declared inputs overlaid by
-- the request (refused when the action is final and the request names an
-- input). Returns the result (through JSON), or nil and an error.
function World:invoke(fqn, request, extra)
  local action = self.actions[fqn]
  if not action then return nil, "action " .. fqn .. " not found" end
  local params = resolve_inputs(self, action)
  local final = action.annotations and action.annotations.final
  for k, v in pairs(json.decode(json.encode(request or {}))) do
    if final and params[k] ~= nil then return nil, "Request defines parameters that are not allowed" end
    params[k] = v
  end
  for k, v in pairs(extra or {}) do params[k] = v end
  self.invocations[#self.invocations + 1] = { fqn = fqn, params = params }
  local main = self:load(action)
  local result = main(params)
  return json.decode(json.encode(result))
end

-- A POST to a web action: the JSON body's keys become params, plus the
-- __ow_* params; __ow_raw_body only with the signed-body annotation.
function World:web_post(fqn, body, headers)
  local action = assert(self.actions[fqn], fqn)
  assert(action.web == "yes", fqn .. " is not a web action")
  local raw = type(body) == "string" and body or json.encode(body)
  local lower = {}
  for k, v in pairs(headers or {}) do lower[string.lower(k)] = v end
  lower["content-type"] = lower["content-type"] or "application/json"
  local extra = { __ow_method = "post", __ow_headers = lower, __ow_path = "" }
  if action.annotations and action.annotations["signed-body"] == true then extra.__ow_raw_body = raw end
  return self:invoke(fqn, json.decode(raw), extra)
end

-- Delivers an event to a registration's consumer, as evkit's delivery does.
function World:deliver(registration, event)
  local reg = assert(self.config.application.events.registrations[registration], registration)
  return self:invoke(reg.runtime_action, event)
end

function World:invoked(fqn)
  local n = 0
  for _, call in ipairs(self.invocations) do if call.fqn == fqn then n = n + 1 end end
  return n
end

return World

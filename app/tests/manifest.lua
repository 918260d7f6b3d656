-- The manifests: registrations, actions, routes, schemas and .env.example agree.
local kit = require("helpers.kit")
local t, json = kit.t, evkit.json
local test, eq, ok, show = t.test, t.eq, t.ok, t.show
local world, event, err, sample_data = kit.world, kit.event, kit.err, kit.sample_data
local EVENTS, SEED, PUBLISHED, PRODUCT = kit.EVENTS, kit.SEED, kit.published, kit.PRODUCT

-- The variables .env.example documents, each set to "$NAME": in a world with
-- this env an input shows which variable it takes.
local function documented_env()
  local env = {}
  for line in (t.read(".env.example") .. "\n"):gmatch("([^\n]*)\n") do
    local name = line:match("^#? ?([%w_]+)=")
    if name then env[name] = "$" .. name end
  end
  return env
end

-- ------------------------------------------------------------------ manifests
test("manifest: registrations list every code of their entity and provider and point at declared consumers", function()
  local w = world()
  local regs = w.app.registrations
  local names = {}
  for entity, providers in pairs(EVENTS) do
    for provider, codes in pairs(providers) do
      local name = entity .. "-" .. provider
      names[name] = true
      local reg = regs[name]
      ok(reg, "registration " .. name)
      eq(#reg.events_of_interest, 1)
      eq(reg.events_of_interest[1].provider_metadata, provider)
      local declared = {}
      for _, code in ipairs(reg.events_of_interest[1].event_codes) do declared[code] = true end
      local expected = {}
      for code in pairs(codes) do expected[code] = true end
      eq(declared, expected, name .. " codes")
      eq(reg.runtime_action, name .. "/consumer")
      ok(w.actions[reg.runtime_action], "declared " .. reg.runtime_action)
      ok(type(reg.description) == "string" and reg.description ~= "")
    end
  end
  for name in pairs(regs) do ok(names[name], "unexpected registration " .. name) end
end)

test("manifest: every declared action exists, is lua, final, unauthenticated, 60 s / 64 MB", function()
  local w = world(documented_env())
  local n = 0
  for fqn, action in pairs(w.actions) do
    n = n + 1
    ok(t.read(action.path), fqn .. ": " .. action.path .. " missing")
    eq({ action.runtime, action.annotations.final, action.annotations["require-adobe-auth"], action.limits.timeout, action.limits.memory },
       { "lua", true, false, 60000, 64 }, fqn)
    eq(action.inputs.LOG_LEVEL, "debug", fqn)
    eq(action.web, fqn == "ingestion/webhook" and "yes" or "no", fqn)
    local uses_commerce = fqn:match("%-backoffice/") and not fqn:match("/consumer$")
    local uses_backoffice = fqn:match("%-commerce/") and not fqn:match("/consumer$")
    eq(action.inputs.COMMERCE_BASE_URL, uses_commerce and "$COMMERCE_BASE_URL" or nil, fqn)
    for _, name in ipairs({ "COMMERCE_CONSUMER_KEY", "COMMERCE_CONSUMER_SECRET", "COMMERCE_ACCESS_TOKEN",
                            "COMMERCE_ACCESS_TOKEN_SECRET", "OAUTH_BASE_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES" }) do
      eq(action.inputs[name], uses_commerce and ("$" .. name) or nil, fqn .. " " .. name)
    end
    eq(action.inputs.BACKOFFICE_BASE_URL, uses_backoffice and "$BACKOFFICE_BASE_URL" or nil, fqn)
    eq(action.inputs.BACKOFFICE_API_KEY, uses_backoffice and "$BACKOFFICE_API_KEY" or nil, fqn)
    -- Each one loads in evkit's sandbox: the consumer tests run every action.
  end
  eq(n, 33, "1 webhook + 8 consumers + 24 handlers")
  local webhook = w.actions["ingestion/webhook"]
  eq(webhook.inputs, { LOG_LEVEL = "debug", WEBHOOK_TOKEN = "$INGESTION_WEBHOOK_TOKEN",
     WEBHOOK_TOKEN_HEADER = "$INGESTION_WEBHOOK_TOKEN_HEADER", WEBHOOK_SECRET = "$INGESTION_WEBHOOK_SECRET" })
  eq(webhook.annotations["signed-body"], true)
end)

test("manifest: every consumer route names a declared handler", function()
  local w = world()
  for entity, providers in pairs(EVENTS) do
    for provider, codes in pairs(providers) do
      for code, def in pairs(codes) do
        w.invocations = {}
        w:deliver(entity .. "-" .. provider, event(code, def.sampleEventTemplate))
        local handler = w.invocations[2]
        ok(handler and w.actions[handler.fqn], code .. " routes to a declared handler")
        ok(handler.fqn:match("^" .. entity .. "%-" .. provider .. "/"), code .. " stays in its package")
      end
    end
  end
end)

-- events.json is read as it is (require of a .json file); nothing is generated from it.
test("manifest: the webhook accepts the backoffice codes of events.json; every .env variable is documented", function()
  local w = world()
  for _, providers in pairs(EVENTS) do
    for code in pairs(providers.backoffice) do
      eq(w:web_post("ingestion/webhook", { data = { uid = code, event = code, value = { sku = "X" } } }), PUBLISHED(code), code)
    end
  end
  -- Loading the app with only the documented variables leaves none unset.
  local documented = world(documented_env())
  for _, warning in ipairs(documented.app.warnings) do
    ok(not warning.message:find("is not set", 1, true), warning.file .. ":" .. warning.line .. ": " ..
       warning.message .. " (add it to .env.example)")
  end
end)

-- Each handler's validator reads the schema.json next to it as it is.
test("manifest: every handler's schema.json is a valid schema its validator uses", function()
  local w = world()
  local n = 0
  for fqn, action in pairs(w.actions) do
    local dir = action.path:match("^(.*)/[^/]*$")
    if fqn ~= "ingestion/webhook" and not fqn:match("/consumer$") then
      n = n + 1
      local path = "../" .. dir .. "/schema.json"
      local schema = json.decode(t.read(dir .. "/schema.json"))
      -- The same verdict from the file and from its decoded table.
      local valid = evkit.schema.validate_file(path, {})
      eq(valid, evkit.schema.validate(schema, {}), path)
      ok(t.read(dir .. "/validator.lua"):find('require("schema")', 1, true), fqn .. " validates with schema.json")
    end
  end
  eq(n, 24)
end)

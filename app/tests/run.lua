-- Offline checks of the sample app's logic, with evkit faked (support/world.lua).
-- Run from anywhere: lua5.4 app/tests/run.lua
-- Prints one line per failure and "N passed, M failed"; exits 1 on failure.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/support/?.lua;" .. package.path
local app = here .. "/.."

local json = require("json")
local World = require("world")
local sha = require("sha256")
local base64 = require("base64")
local yaml = require("yaml")

-- ---------------------------------------------------------------- framework
local tests, passed, failed = {}, 0, 0
local function test(name, fn) tests[#tests + 1] = { name = name, fn = fn } end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function show(v)
  local ok, text = pcall(json.encode, v)
  return ok and text or tostring(v)
end

local function eq(actual, expected, what)
  if not deep_equal(actual, expected) then
    error((what and (what .. ": ") or "") .. "expected " .. show(expected) .. ", got " .. show(actual), 2)
  end
end

local function ok(cond, what) if not cond then error(what or "assertion failed", 2) end end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- events.json: the app's copy when present, else the starter kit's.
local EVENTS_JSON = read(app .. "/onboarding/config/events.json")
  or read(here .. "/../../../shared/starter-kit-data/events.json")
  or read("/work/shared/starter-kit-data/events.json")
local EVENTS = json.decode(assert(EVENTS_JSON, "events.json not found"))

local SEED = {
  data = {
    uid = "event_uid_1",
    event = "be-observer.catalog_product_create",
    value = { sku = "PRODUCT_SKU", name = "Product SKU", price = 1, description = "Product SKU description" },
  },
}
local PUBLISHED = function(code)
  return { statusCode = 200, body = { type = code, response = { success = true, message = "Event published successfully" } } }
end
local function err(status, message) return { error = { statusCode = status, body = { error = message } } } end

local function world(env) return World.new(app, env) end

-- A delivered CloudEvent, as the consumer receives it.
local function event(code, data)
  return { specversion = "1.0", type = code, source = "urn:uuid:11111111-2222-4333-8444-555555555555",
           id = "evt-1", time = "2024-08-05T10:03:49Z", datacontenttype = "application/json", data = data }
end

-- Commerce wraps its entity in data.value; the webhook publishes the back office's value as data.
local function sample_data(entity, provider, code)
  return EVENTS[entity][provider][code].sampleEventTemplate
end

-- ------------------------------------------------------------ ingestion webhook
test("webhook: the seed example -> exactly the documented 200 body, published once", function()
  local w = world()
  eq(w:web_post("ingestion/webhook", SEED), PUBLISHED("be-observer.catalog_product_create"))
  eq(#w.published, 1)
  local p = w.published[1]
  eq({ p.provider, p.type, p.idempotency_key }, { "backoffice", "be-observer.catalog_product_create", "event_uid_1" })
  eq(p.data, SEED.data.value)
end)

test("webhook: the same uid twice answers 200 both times and publishes once", function()
  local w = world()
  eq(w:web_post("ingestion/webhook", SEED), PUBLISHED(SEED.data.event))
  eq(w:web_post("ingestion/webhook", SEED), PUBLISHED(SEED.data.event))
  eq(#w.published, 1)
end)

test("webhook: missing parameters are named exactly", function()
  local w = world()
  local cases = {
    { { data = { event = "be-observer.catalog_product_create", value = {} } }, "missing parameter(s) 'data.uid'" },
    { { data = { uid = "x", value = {} } }, "missing parameter(s) 'data.event'" },
    { { data = { uid = "x", event = "be-observer.catalog_product_create" } }, "missing parameter(s) 'data.value'" },
    { { data = { event = "be-observer.catalog_product_create" } }, "missing parameter(s) 'data.uid, data.value'" },
    { {}, "missing parameter(s) 'data.uid, data.event, data.value'" },
    { { data = "text" }, "missing parameter(s) 'data.uid, data.event, data.value'" },
    { { data = { uid = "", event = "be-observer.catalog_product_create", value = json.null } }, "missing parameter(s) 'data.uid, data.value'" },
  }
  for _, case in ipairs(cases) do eq(w:web_post("ingestion/webhook", case[1]), err(400, case[2]), show(case[1])) end
  eq(#w.published, 0, "nothing published")
end)

test("webhook: unknown codes, and commerce codes, are unknown event types", function()
  local w = world()
  eq(w:web_post("ingestion/webhook", { data = { uid = "x", event = "be-observer.nope", value = {} } }),
     err(400, "Unable to publish event be-observer.nope: Unknown event type"))
  local commerce = "com.adobe.commerce.observer.catalog_product_save_commit_after"
  eq(w:web_post("ingestion/webhook", { data = { uid = "x", event = commerce, value = {} } }),
     err(400, "Unable to publish event " .. commerce .. ": Unknown event type"))
  eq(#w.published, 0)
end)

test("webhook: every backoffice code of events.json is accepted", function()
  local w = world()
  local n = 0
  for _, providers in pairs(EVENTS) do
    for code in pairs(providers.backoffice) do
      n = n + 1
      eq(w:web_post("ingestion/webhook", { data = { uid = "u" .. n, event = code, value = { sku = "X" } } }), PUBLISHED(code), code)
    end
  end
  eq(#w.published, n)
  eq(n, 13, "the seed lists 13 backoffice codes")
end)

test("webhook: a publish failure is a 500 naming the event", function()
  local w = world()
  w.publish_error = "journal unavailable"
  eq(w:web_post("ingestion/webhook", SEED), err(500, "Unable to publish event be-observer.catalog_product_create: journal unavailable"))
end)

test("webhook: params logged at debug hide the token and signature", function()
  local w = world({ INGESTION_WEBHOOK_TOKEN = "tok-123" })
  w:web_post("ingestion/webhook", SEED, { ["x-webhook-token"] = "tok-123", ["webhook-signature"] = "v1,abc" })
  local all = table.concat(w.logs, "\n")
  ok(all:find("Webhook main params", 1, true), "params are logged at debug")
  ok(not all:find("tok-123", 1, true), "token leaked into the logs: " .. all)
  ok(not all:find("v1,abc", 1, true), "signature leaked into the logs")
end)

test("webhook auth: off by default", function()
  eq(world():web_post("ingestion/webhook", SEED), PUBLISHED(SEED.data.event))
end)

test("webhook auth: shared token in the default header", function()
  local w = world({ INGESTION_WEBHOOK_TOKEN = "tok-123" })
  eq(w:web_post("ingestion/webhook", SEED), err(401, "missing or invalid x-webhook-token header"))
  eq(w:web_post("ingestion/webhook", SEED, { ["x-webhook-token"] = "wrong" }), err(401, "missing or invalid x-webhook-token header"))
  eq(w:web_post("ingestion/webhook", SEED, { ["X-Webhook-Token"] = "tok-123" }), PUBLISHED(SEED.data.event))
  eq(#w.published, 1, "rejected requests publish nothing")
end)

test("webhook auth: shared token in a configured header", function()
  local w = world({ INGESTION_WEBHOOK_TOKEN = "tok-123", INGESTION_WEBHOOK_TOKEN_HEADER = "X-Api-Key" })
  eq(w:web_post("ingestion/webhook", SEED, { ["x-webhook-token"] = "tok-123" }), err(401, "missing or invalid x-api-key header"))
  eq(w:web_post("ingestion/webhook", SEED, { ["x-api-key"] = "tok-123" }), PUBLISHED(SEED.data.event))
end)

-- Standard Webhooks signing, as the standardwebhooks library does it.
local KEY = "0123456789abcdef0123456789abcdef"
local SECRET = "whsec_" .. base64.encode(KEY)
local function signed(body, id, ts, key)
  return {
    ["webhook-id"] = id, ["webhook-timestamp"] = tostring(ts),
    ["webhook-signature"] = "v1," .. base64.encode(sha.hmac_sha256(key or KEY, id .. "." .. ts .. "." .. body)),
  }
end

test("webhook auth: Standard Webhooks signatures", function()
  local w = world({ INGESTION_WEBHOOK_SECRET = SECRET })
  local body = json.encode(SEED)
  local now = os.time()
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_1", now)), PUBLISHED(SEED.data.event))
  eq(w:web_post("ingestion/webhook", body:gsub("Product SKU", "Product SKX"), signed(body, "msg_1", now)),
     err(401, "invalid webhook signature"), "tampered body")
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_1", now - 600)), err(401, "webhook timestamp too old"))
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_1", now + 600)), err(401, "webhook timestamp too new"))
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_3", now - 240)), PUBLISHED(SEED.data.event), "within tolerance")
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_3", now - 240)), err(401, "replayed webhook-id"),
     "the same webhook-id again")
  eq(w:web_post("ingestion/webhook", body),
     err(401, "missing webhook-id, webhook-timestamp or webhook-signature header"))
  eq(w:web_post("ingestion/webhook", body, signed(body, "msg_1", now, "another key 0123456789abcdef01")),
     err(401, "invalid webhook signature"), "wrong key")
  local h = signed(body, "msg_1", now)
  h["webhook-timestamp"] = "soon"
  eq(w:web_post("ingestion/webhook", body, h), err(401, "invalid webhook-timestamp header"))
  -- A list with one valid v1 entry passes (secret rotation); other versions are ignored.
  local good = signed(body, "msg_2", now)["webhook-signature"]
  h = signed(body, "msg_2", now)
  h["webhook-signature"] = "v1,AAAA v1a," .. good:sub(4) .. " " .. good
  eq(w:web_post("ingestion/webhook", body, h), PUBLISHED(SEED.data.event))
  h["webhook-signature"] = "v1a," .. good:sub(4)
  eq(w:web_post("ingestion/webhook", body, h), err(401, "invalid webhook signature"))
end)

test("webhook auth: a secret without the whsec_ prefix works; token and secret together both apply", function()
  local w = world({ INGESTION_WEBHOOK_SECRET = base64.encode(KEY), INGESTION_WEBHOOK_TOKEN = "t" })
  local body = json.encode(SEED)
  local h = signed(body, "m", os.time())
  eq(w:web_post("ingestion/webhook", body, h), err(401, "missing or invalid x-webhook-token header"))
  h["x-webhook-token"] = "t"
  eq(w:web_post("ingestion/webhook", body, h), PUBLISHED(SEED.data.event))
end)

test("webhook auth: signatures need the signed-body annotation's raw body", function()
  local w = world({ INGESTION_WEBHOOK_SECRET = SECRET })
  w.actions["ingestion/webhook"].annotations["signed-body"] = nil
  local body = json.encode(SEED)
  eq(w:web_post("ingestion/webhook", body, signed(body, "m", os.time())),
     err(401, "the raw request body is unavailable: annotate the webhook action with signed-body: true"))
end)

test("harness: sha256 and HMAC agree with openssl", function()
  local p = io.popen("printf 'abc' | openssl dgst -sha256 -hex 2>/dev/null")
  local out = p and p:read("a") or ""
  if p then p:close() end
  eq(sha.hex(sha.sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  if out ~= "" then ok(out:find(sha.hex(sha.sha256("abc")), 1, true), "openssl disagrees: " .. out) end
  -- RFC 4231 test case 2.
  eq(sha.hex(sha.hmac_sha256("Jefe", "what do ya want for nothing?")),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
end)

-- ------------------------------------------------------------------ consumers
-- Every sample event of events.json reaches a handler and passes, as a dry run.
test("consumers: every sample event of events.json is routed and dry-runs with 200", function()
  local w = world()
  local n = 0
  for entity, providers in pairs(EVENTS) do
    for provider, codes in pairs(providers) do
      for code, def in pairs(codes) do
        n = n + 1
        local result = w:deliver(entity .. "-" .. provider, event(code, def.sampleEventTemplate))
        eq(result.statusCode, 200, code .. " -> " .. show(result))
        eq(result.body.type, code)
        ok(result.body.response.success == true and result.body.response.message:match("^dry run: "), code .. ": " .. show(result))
      end
    end
  end
  eq(n, 21)
  eq(#w.http_calls, 0, "dry runs send nothing")
end)

test("consumers: route to the right handler (created/updated by timestamps)", function()
  local w = world()
  local function route(reg, code, data) w.invocations = {}; w:deliver(reg, event(code, data)); return w.invocations[2] and w.invocations[2].fqn end
  local save = "com.adobe.commerce.observer.catalog_product_save_commit_after"
  eq(route("product-commerce", save, { value = { sku = "S", name = "N", created_at = "t1", updated_at = "t1" } }), "product-commerce/created")
  eq(route("product-commerce", save, { value = { sku = "S", name = "N", created_at = "t1", updated_at = "t2" } }), "product-commerce/updated")
  eq(route("customer-commerce", "com.adobe.commerce.observer.customer_group_save_commit_after",
           sample_data("customer", "commerce", "com.adobe.commerce.observer.customer_group_save_commit_after")), "customer-commerce/group-updated")
  eq(route("customer-backoffice", "be-observer.customer_group_create", { name = "G", taxClassId = 3 }), "customer-backoffice/group-created")
  eq(route("order-backoffice", "be-observer.sales_order_shipment_update",
           sample_data("order", "backoffice", "be-observer.sales_order_shipment_update")), "order-backoffice/shipment-updated")
end)

test("consumers: the handler gets the entity, the event fields and its own inputs only", function()
  local w = world({ COMMERCE_BASE_URL = "" })
  w:deliver("product-backoffice", event("be-observer.catalog_product_delete", { sku = "S1" }))
  local call = w.invocations[2]
  eq(call.fqn, "product-backoffice/deleted")
  eq(call.params.data, { sku = "S1" })
  eq({ call.params.type, call.params.id, call.params.source }, { "be-observer.catalog_product_delete", "evt-1", "urn:uuid:11111111-2222-4333-8444-555555555555" })
  eq(call.params.LOG_LEVEL, "debug")
  w:deliver("product-commerce", event("com.adobe.commerce.observer.catalog_product_delete_commit_after", { value = { sku = "S2" } }))
  eq(w.invocations[4].params.data, { sku = "S2" }, "commerce data.value is unwrapped")
end)

test("consumers: unsupported type -> 400; missing commerce fields -> 400 naming them", function()
  local w = world()
  eq(w:deliver("product-backoffice", { data = {} }), err(400, "missing parameter(s) 'type'"))
  eq(w:deliver("product-backoffice", event("be-observer.customer_create", {})),
     err(400, "This case type is not supported: be-observer.customer_create"))
  eq(w:deliver("product-commerce", event("com.adobe.commerce.observer.catalog_product_save_commit_after", { value = { sku = "S" } })),
     err(400, "missing parameter(s) 'data.value.created_at, data.value.updated_at'"))
  eq(w:deliver("product-commerce", event("com.adobe.commerce.observer.catalog_product_delete_commit_after", {})),
     err(400, "missing parameter(s) 'data.value'"))
end)

local PRODUCT = { sku = "SKU-1", name = "Bag", price = 9.5, description = "A bag" }

test("consumers: the handler's statusCode propagates (2xx ok, 4xx final 400, 5xx/429/network 500)", function()
  local cases = {
    { { status = 201, body = '{"id":42}' }, nil },
    { { status = 404, body = '{"message":"no such product"}' }, 400 },
    { { status = 400, body = "bad" }, 400 },
    { { status = 503, body = "down" }, 500 },
    { { status = 429, body = "slow down" }, 500 },
    { nil, 500 },
  }
  for _, case in ipairs(cases) do
    local w = world({ COMMERCE_BASE_URL = "https://shop.test/rest/", COMMERCE_ACCESS_TOKEN = "ctok" })
    w.http = function() if case[1] then return case[1] end return nil, "connection refused" end
    local result = w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
    if not case[2] then
      eq(result, { statusCode = 200, body = { type = "be-observer.catalog_product_update",
                   response = { success = true, message = "Product updated successfully" } } })
    else
      eq(result.error and result.error.statusCode, case[2], show(case[1]) .. " -> " .. show(result))
      local message = result.error.body.error
      if case[1] then
        ok(message:find("Commerce API answered " .. case[1].status .. " to PUT V1/products/SKU-1", 1, true), message)
      else
        eq(message, "Commerce API unreachable for PUT V1/products/SKU-1: connection refused")
      end
    end
  end
end)

test("consumers: a handler that crashes is a 500 (retried)", function()
  local w = world()
  w.http = function() error("boom") end
  w.env.COMMERCE_BASE_URL = "https://shop.test/rest/"
  w.env.COMMERCE_ACCESS_TOKEN = "ctok"
  local result = w:deliver("product-backoffice", event("be-observer.catalog_product_delete", { sku = "S" }))
  eq(result.error.statusCode, 500)
  ok(result.error.body.error:match("^Server error: "), show(result))
end)

test("consumers: odd handler answers (developer error, top-level error, failed invoke)", function()
  local code = "be-observer.catalog_product_delete"
  local cases = {
    { { error = "The action did not produce a valid JSON response" }, err(500, "The action did not produce a valid JSON response") },
    { { error = { statusCode = 404, body = { error = "gone" } } }, err(404, "gone") },
    { { statusCode = 200, body = { success = false, error = "half" } }, err(500, "half") },
    { { statusCode = 302, body = {} }, err(500, "the handler answered without success") },
    { nil, err(500, "Unable to invoke product-backoffice/deleted: timed out") },
  }
  for _, case in ipairs(cases) do
    local w = world()
    w.evkit.invoke = function() if case[1] then return case[1], { activationId = "x" } end return nil, "timed out" end
    eq(w:deliver("product-backoffice", event(code, { sku = "S" })), case[2], show(case[1]))
  end
end)

-- ------------------------------------------------------------------ handlers
test("handlers: the request sent to Commerce (method, URL, bearer, JSON body)", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test/rest/default/", COMMERCE_ACCESS_TOKEN = "ctok" })
  w:deliver("product-backoffice", event("be-observer.catalog_product_create", PRODUCT))
  local req = w.http_calls[1]
  eq({ req.method, req.url }, { "POST", "https://shop.test/rest/default/V1/products" })
  eq(req.headers.authorization, "Bearer ctok")
  eq(req.headers["content-type"], "application/json")
  -- Exactly the starter kit's body.
  eq(json.decode(req.body), { product = { sku = "SKU-1", name = "Bag", price = 9.5, attribute_set_id = 4,
    custom_attributes = { { attribute_code = "description", value = "A bag" } } } })
  ok(type(req.timeout) == "number" and req.timeout > 0)
  -- Path segments are encoded; deletions send no body.
  w:deliver("product-backoffice", event("be-observer.catalog_product_delete", { sku = "24-MB01/blue x" }))
  eq({ w.http_calls[2].method, w.http_calls[2].url, w.http_calls[2].body },
     { "DELETE", "https://shop.test/rest/default/V1/products/24-MB01%2Fblue%20x", nil })
  -- No credentials at all: the kit's "Unknown auth type", retried (500), nothing sent.
  w.env.COMMERCE_ACCESS_TOKEN = ""
  local r = w:deliver("product-backoffice", event("be-observer.catalog_product_delete", { sku = "S" }))
  eq(r.error.statusCode, 500)
  ok(r.error.body.error:find("Unknown auth type", 1, true), show(r))
  eq(#w.http_calls, 2)
end)

-- RFC 5849 section 3.4.1.1: the signature base string of its example request
-- (its form body parameters c2 and a3 passed along with the oauth_* ones).
test("oauth1: the RFC 5849 signature base string", function()
  local w = world()
  local oauth1 = w:module("oauth1")
  local base = oauth1.base_string("post", "http://EXAMPLE.COM:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", {
    oauth_consumer_key = "9djdj82h48djs9d2", oauth_token = "kkk9d7dh3k39sjv7", oauth_signature_method = "HMAC-SHA1",
    oauth_timestamp = "137131201", oauth_nonce = "7d8f3e4a", c2 = "", a3 = "2 q",
  })
  eq(base, "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26"
    .. "c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26"
    .. "oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7")
  eq(oauth1.base_uri("HTTPS://Shop.Test:443/rest/V1/products/A%2FB?x=1"), "https://shop.test/rest/V1/products/A%2FB")
  eq(oauth1.base_uri("http://shop.test:8080"), "http://shop.test:8080/")
end)

test("oauth1: handlers sign with HMAC-SHA256 over the key of both secrets", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test/rest/", COMMERCE_CONSUMER_KEY = "ck",
                    COMMERCE_CONSUMER_SECRET = "cs&1", COMMERCE_ACCESS_TOKEN = "at", COMMERCE_ACCESS_TOKEN_SECRET = "ats" })
  w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  local req = w.http_calls[1]
  eq({ req.method, req.url }, { "PUT", "https://shop.test/rest/V1/products/SKU-1" })
  local fields = {}
  for k, v in req.headers.authorization:gmatch('(oauth_[%w_]+)="([^"]*)"') do fields[k] = v end
  ok(req.headers.authorization:match("^OAuth "), req.headers.authorization)
  eq({ fields.oauth_consumer_key, fields.oauth_token, fields.oauth_signature_method, fields.oauth_version },
     { "ck", "at", "HMAC-SHA256", "1.0" })
  ok(#fields.oauth_nonce >= 16 and fields.oauth_timestamp:match("^%d+$"), req.headers.authorization)
  local function enc(v) return (v:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end)) end
  local base = "PUT&" .. enc("https://shop.test/rest/V1/products/SKU-1") .. "&" .. enc(
    "oauth_consumer_key=ck&oauth_nonce=" .. fields.oauth_nonce .. "&oauth_signature_method=HMAC-SHA256&oauth_timestamp="
    .. fields.oauth_timestamp .. "&oauth_token=at&oauth_version=1.0")
  eq(fields.oauth_signature, enc(base64.encode(sha.hmac_sha256("cs%261&ats", base))))
  ok(not table.concat(w.logs, "\n"):find("cs&1", 1, true), "the consumer secret is not logged")
end)

test("ims: the token is fetched by client credentials, cached, and refreshed after a 401", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test/rest/", OAUTH_BASE_URL = "https://ims.test/ims/token/",
                    OAUTH_CLIENT_ID = "cid", OAUTH_CLIENT_SECRET = "csecret", OAUTH_SCOPES = "AdobeID, openid, commerce.accs" })
  local issued, reject = 0, {}
  w.http = function(req)
    if req.url == "https://ims.test/ims/token/v3" then
      issued = issued + 1
      return { status = 200, body = json.encode({ access_token = "tok" .. issued, token_type = "bearer", expires_in = 86399 }) }
    end
    if reject[req.headers.authorization] then return { status = 401, body = '{"message":"expired"}' } end
    return { status = 200, body = "{}" }
  end
  eq(w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT)).statusCode, 200)
  local t = w.http_calls[1]
  eq({ t.method, t.headers["content-type"] }, { "POST", "application/x-www-form-urlencoded" })
  eq(t.body, "grant_type=client_credentials&client_id=cid&client_secret=csecret&scope=AdobeID%2Copenid%2Ccommerce.accs")
  eq(w.http_calls[2].headers.authorization, "Bearer tok1")
  PRODUCT.description = "changed"
  w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  eq(#w.http_calls, 3, "the cached token is used")
  eq(w.http_calls[3].headers.authorization, "Bearer tok1")
  reject["Bearer tok1"] = true
  PRODUCT.description = "changed again"
  eq(w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT)).statusCode, 200)
  eq(issued, 2, "a 401 fetches a fresh token once")
  eq(w.http_calls[#w.http_calls].headers.authorization, "Bearer tok2")
  PRODUCT.description = "A bag"
  ok(not table.concat(w.logs, "\n"):find("csecret", 1, true), "the client secret is not logged")
  -- The token endpoint refusing the client is final (400) and names no secret.
  w = world({ COMMERCE_BASE_URL = "https://shop.test/rest/", OAUTH_BASE_URL = "https://ims.test/ims/token",
              OAUTH_CLIENT_ID = "cid", OAUTH_CLIENT_SECRET = "csecret" })
  w.http = function() return { status = 400, body = '{"error":"invalid_client","error_description":"csecret"}' } end
  local r = w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  eq(r, err(400, "OAuth token request POST https://ims.test/ims/token/v3 answered 400: invalid_client"))
end)

test("handlers: the request sent to the back office", function()
  local w = world({ BACKOFFICE_BASE_URL = "https://bo.test/api", BACKOFFICE_API_KEY = "bkey" })
  local code = "com.adobe.commerce.observer.customer_save_commit_after"
  w:deliver("customer-commerce", event(code, sample_data("customer", "commerce", code)))
  local req = w.http_calls[1]
  eq({ req.method, req.url, req.headers.authorization }, { "PUT", "https://bo.test/api/customer/123", "Bearer bkey" })
  eq(json.decode(req.body), sample_data("customer", "commerce", code).value)
  code = "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after"
  w:deliver("stock-commerce", event(code, sample_data("stock", "commerce", code)))
  req = w.http_calls[2]
  eq({ req.method, req.url }, { "PUT", "https://bo.test/api/stock/27" })
  eq(json.decode(req.body), sample_data("stock", "commerce", code).value)
  ok(req.body:find('"min_qty_allowed_in_shopping_cart":[{', 1, true), "lists stay lists")
end)

test("handlers: shipment and stock transforms keep lists as JSON arrays", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t" })
  local code = "be-observer.sales_order_shipment_create"
  w:deliver("order-backoffice", event(code, sample_data("order", "backoffice", code)))
  local req = w.http_calls[1]
  eq({ req.method, req.url }, { "POST", "https://shop.test/V1/order/8/ship" })
  ok(req.body:find('"items":[{"order_item_id":8,"qty":1}]', 1, true), req.body)
  ok(req.body:find('"source_code":"default"', 1, true), req.body)
  w:deliver("stock-backoffice", event("be-observer.catalog_stock_update", json.array({})))
  ok(w.http_calls[2].body == '{"sourceItems":[]}', "an empty list stays an array: " .. tostring(w.http_calls[2].body))
end)

test("handlers: dry-run messages name the request and the variable to set", function()
  local w = world()
  local function message(reg, code, data) return w:deliver(reg, event(code, data)).body.response.message end
  eq(message("product-backoffice", "be-observer.catalog_product_create", PRODUCT),
     "dry run: POST V1/products (set COMMERCE_BASE_URL to send)")
  eq(message("product-backoffice", "be-observer.catalog_product_update", PRODUCT),
     "dry run: PUT V1/products/SKU-1 (set COMMERCE_BASE_URL to send)")
  eq(message("customer-backoffice", "be-observer.customer_group_delete", { id = 19 }),
     "dry run: DELETE V1/customerGroups/19 (set COMMERCE_BASE_URL to send)")
  eq(message("order-backoffice", "be-observer.sales_order_status_update", { id = 1, status = "shipped" }),
     "dry run: POST V1/orders/1/comments (set COMMERCE_BASE_URL to send)")
  eq(message("product-commerce", "com.adobe.commerce.observer.catalog_product_save_commit_after",
             { value = { sku = "S", name = "N", created_at = "t", updated_at = "t" } }),
     "dry run: POST /product (set BACKOFFICE_BASE_URL to send)")
  eq(message("customer-commerce", "com.adobe.commerce.observer.customer_group_delete_commit_after",
             { value = { customer_group_id = "18" } }),
     "dry run: DELETE /customer-group/18 (set BACKOFFICE_BASE_URL to send)")
end)

test("handlers: handler responses have the seed's shapes", function()
  local w = world()
  eq(w:invoke("product-backoffice/deleted", { data = { sku = "S" } }),
     { statusCode = 200, body = { success = true, message = "dry run: DELETE V1/products/S (set COMMERCE_BASE_URL to send)" } })
  eq(w:invoke("product-backoffice/deleted", { data = { name = "S" } }),
     { statusCode = 400, body = { success = false, error = "Data provided does not validate with the schema: 'data.name' is not allowed (not a known property); 'data.sku' is required" } })
end)

test("handlers: validation names each missing or wrong-typed field", function()
  local w = world()
  local function problem(fqn, data)
    local r = w:invoke(fqn, { data = data })
    eq(r.statusCode, 400, fqn .. " " .. show(data))
    return (r.body.error:gsub("^Data provided does not validate with the schema: ", ""))
  end
  eq(problem("product-backoffice/created", { sku = "S", name = "N" }), "'data.description' is required")
  eq(problem("product-backoffice/updated", { sku = "S", name = "N", description = "d", price = "9.99" }),
     "'data.price' must be a number, got string")
  eq(problem("product-backoffice/created", { name = 5, description = "d" }),
     "'data.name' must be a string, got integer; 'data.sku' is required")
  eq(problem("customer-backoffice/updated", { name = "J", lastname = "D", email = "e" }), "'data.id' is required")
  eq(problem("customer-backoffice/group-created", { name = "G", taxClassId = "3" }), "'data.taxClassId' must be a number, got string")
  eq(problem("order-backoffice/updated", { id = 1.5, status = "x" }), "'data.id' must be an integer, got number")
  eq(problem("order-backoffice/shipment-created", {
       orderId = 8, items = { { orderItemId = 8 } }, tracks = json.array({}), comment = { comment = "c", visibleOnFront = "yes" },
       stockSourceCode = "default" }),
     "'data.comment.visibleOnFront' must be a boolean, got string; 'data.items[0].qty' is required")
  eq(problem("stock-backoffice/updated", { sku = "S" }), "'data' must be an array, got object")
  eq(problem("stock-backoffice/updated", { { sku = "S", source = "default", quantity = 1 } }), "'data[0].outOfStock' is required")
  eq(problem("customer-commerce/group-updated", { customer_group_id = true, customer_group_code = "VIP", tax_class_id = 3 }),
     "'data.customer_group_id' must be a number or string, got boolean")
  eq(problem("product-backoffice/deleted", json.null), "'data' must be an object, got null")
  eq(#w.http_calls, 0)
end)

-- ------------------------------------------------------------------ echoes
test("echo: a change we propagated comes back from the other side and is skipped", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t", BACKOFFICE_BASE_URL = "https://bo.test" })
  eq(w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT)).statusCode, 200)
  eq(#w.http_calls, 1)
  local save = "com.adobe.commerce.observer.catalog_product_save_commit_after"
  local echo = { value = { id = 2, sku = "SKU-1", name = "Bag", description = "A bag", created_at = "a", updated_at = "b" } }
  eq(w:deliver("product-commerce", event(save, echo)),
     { statusCode = 200, body = { type = save, response = { success = true, message = "event is an echo; skipped" } } })
  eq(#w.http_calls, 1, "the echo sends nothing")
  eq(w:invoked("product-commerce/updated"), 0, "and invokes no handler")
  -- The kit's fingerprint is the SKU and the description, stored under ilk_<sku>.
  eq(w.store["ilk_SKU-1.commerce"].value, sha.hex(sha.sha256('{"product":"SKU-1","description":"A bag"}')))
  -- A real change of a compared field is propagated.
  echo.value.description = "A bigger bag"
  eq(w:deliver("product-commerce", event(save, echo)).body.response.message, "Product updated successfully")
  eq(#w.http_calls, 2)
  -- ... and its own echo from the back office is skipped in turn.
  eq(w:deliver("product-backoffice", event("be-observer.catalog_product_update",
       { sku = "SKU-1", name = "Bag", price = 9.5, description = "A bigger bag" })).body.response.message,
     "event is an echo; skipped")
  eq(#w.http_calls, 2)
end)

test("echo: fingerprints expire after 60 s and are not stored by dry runs or failures", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t" })
  w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  local save = "com.adobe.commerce.observer.catalog_product_save_commit_after"
  local echo = { value = { sku = "SKU-1", name = "Bag", description = "A bag", created_at = "a", updated_at = "b" } }
  w.clock = w.clock + 61
  ok(w:deliver("product-commerce", event(save, echo)).body.response.message:match("^dry run"), "expired: handled")

  w = world()
  w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  ok(w:deliver("product-commerce", event(save, echo)).body.response.message:match("^dry run"), "dry run stored nothing")

  w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t" })
  w.http = function() return { status = 500, body = "" } end
  w:deliver("product-backoffice", event("be-observer.catalog_product_update", PRODUCT))
  w.env.COMMERCE_BASE_URL = ""
  ok(w:deliver("product-commerce", event(save, echo)).body.response.message:match("^dry run"), "failure stored nothing")
end)

test("echo: customers (by e-mail), groups, deletions and stock lists", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t", BACKOFFICE_BASE_URL = "https://bo.test" })
  local skipped = "event is an echo; skipped"
  local function msg(reg, code, data) return w:deliver(reg, event(code, data)).body.response.message end
  msg("customer-backoffice", "be-observer.customer_create", { name = "Jane", lastname = "Doe", email = "Jane.Doe@x.com" })
  eq(msg("customer-commerce", "com.adobe.commerce.observer.customer_save_commit_after",
         { value = { id = 7, firstname = "Jane", lastname = "Doe", email = "jane.doe@x.com", created_at = "t", updated_at = "t" } }), skipped)
  msg("customer-backoffice", "be-observer.customer_group_update", { id = 19, name = "VIP", taxClassId = 3 })
  eq(msg("customer-commerce", "com.adobe.commerce.observer.customer_group_save_commit_after",
         { value = { customer_group_id = "19", customer_group_code = "VIP", tax_class_id = "3" } }), skipped)
  msg("customer-commerce", "com.adobe.commerce.observer.customer_delete_commit_after", { value = { id = 15, email = "a@b" } })
  eq(msg("customer-backoffice", "be-observer.customer_delete", { id = 15 }), skipped)
  local items = { { sku = "A", source = "default", quantity = 5, outOfStock = false }, { sku = "B", source = "default", quantity = 0, outOfStock = true } }
  msg("stock-backoffice", "be-observer.catalog_stock_update", items)
  local stock = "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after"
  eq(msg("stock-commerce", stock, { value = { product_id = "1", sku = "A", qty = "5.0000", is_in_stock = "1" } }), skipped)
  eq(msg("stock-commerce", stock, { value = { product_id = "1", sku = "A", qty = "4", is_in_stock = "1" } }), "Stock updated successfully")
  -- A list is an echo only if every item matches.
  msg("stock-commerce", stock, { value = { product_id = "2", sku = "C", qty = "1", is_in_stock = "1" } })
  eq(msg("stock-backoffice", "be-observer.catalog_stock_update", { { sku = "C", source = "default", quantity = 1, outOfStock = false } }), skipped)
  eq(msg("stock-backoffice", "be-observer.catalog_stock_update", { items[2], { sku = "C", source = "default", quantity = 1, outOfStock = false } }),
     "Stock updated successfully")
end)

test("echo: fingerprints are per direction: the same change again from the same side is propagated", function()
  local w = world({ COMMERCE_BASE_URL = "https://shop.test", COMMERCE_ACCESS_TOKEN = "t" })
  local function msg(code, data) return w:deliver("product-backoffice", event(code, data)).body.response.message end
  eq(msg("be-observer.catalog_product_create", PRODUCT), "Product created successfully")
  -- Same SKU and description, a new price: the kit's single ilk_<sku> would drop it.
  eq(msg("be-observer.catalog_product_update", { sku = "SKU-1", name = "Bag", price = 12, description = "A bag" }),
     "Product updated successfully")
  eq(#w.http_calls, 2)
end)

-- ------------------------------------------------------------------ manifests
test("manifest: registrations list every code of their entity and provider and point at declared consumers", function()
  local w = world()
  local regs = w.config.application.events.registrations
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
  local w = world()
  local n = 0
  for fqn, action in pairs(w.actions) do
    n = n + 1
    ok(read(action.path), fqn .. ": " .. action.path .. " missing")
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
    w:load(action) -- loads in the sandbox: only sandbox facilities, no stray globals
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

test("manifest: actions/lib/events.lua matches events.json; every .env variable is documented", function()
  local w = world()
  local chunk = assert(loadfile(app .. "/actions/lib/events.lua", "t", {}))
  local generated = chunk()
  for entity, providers in pairs(EVENTS) do
    for provider, codes in pairs(providers) do
      local set = {}
      for _, code in ipairs(generated[entity][provider]) do set[code] = true end
      local expected = {}
      for code in pairs(codes) do expected[code] = true end
      eq(set, expected, "events.lua " .. entity .. "/" .. provider .. " (run scripts/gen-events-lua.py)")
    end
  end
  local example = assert(read(app .. "/.env.example"), ".env.example")
  for _, action in pairs(w.actions) do
    for _, value in pairs(action.inputs) do
      if type(value) == "string" and value:match("^%$") then
        ok(example:find("\n#? ?" .. value:sub(2) .. "=") or example:find("^" .. value:sub(2) .. "="),
           value:sub(2) .. " is not in .env.example")
      end
    end
  end
end)

test("manifest: every schema.lua matches its schema.json", function()
  local p = io.popen("find '" .. app .. "/actions' -name schema.json | sort")
  local n = 0
  for path in p:lines() do
    n = n + 1
    local expected = json.decode(read(path))
    local generated = assert(loadfile(path:gsub("%.json$", ".lua"), "t", {}))()
    local function normalize(v) return json.decode(json.encode(v)) end
    -- Empty JSON arrays and objects are both {} in Lua: compare through JSON.
    eq(normalize(generated), normalize(expected), path .. " (run scripts/gen-events-lua.py)")
  end
  p:close()
  eq(n, 24)
end)

-- ------------------------------------------------------------------ run
for _, t in ipairs(tests) do
  local good, why = xpcall(t.fn, debug.traceback)
  if good then
    passed = passed + 1
  else
    failed = failed + 1
    print("FAIL " .. t.name .. "\n  " .. tostring(why):gsub("\n", "\n  "))
  end
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)

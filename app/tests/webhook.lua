-- The ingestion webhook: answers, validation, publishing, authentication.
local kit = require("helpers.kit")
local t, json = kit.t, evkit.json
local test, eq, ok, show = t.test, t.eq, t.ok, t.show
local world, event, err, sample_data = kit.world, kit.event, kit.err, kit.sample_data
local EVENTS, SEED, PUBLISHED, PRODUCT = kit.EVENTS, kit.SEED, kit.published, kit.PRODUCT

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

test("webhook: a uid that is no string or number is a 400, never the key \"table: 0x...\"", function()
  local w = world()
  for _, uid in ipairs({ { a = 1 }, json.array{ 1 }, true }) do
    local body = { data = { uid = uid, event = SEED.data.event, value = SEED.data.value } }
    eq(w:web_post("ingestion/webhook", body),
       err(400, "data.uid must be a string (or a number), not a " .. (uid == true and "boolean" or "table")))
  end
  eq(#w.published, 0, "nothing published")
  eq(w:web_post("ingestion/webhook", { data = { uid = 42, event = SEED.data.event, value = SEED.data.value } }),
     PUBLISHED(SEED.data.event))
  eq(w.published[1].idempotency_key, "42")
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
local SECRET = "whsec_" .. evkit.crypto.base64_encode(KEY)
local function signed(body, id, ts, key)
  return {
    ["webhook-id"] = id, ["webhook-timestamp"] = tostring(ts),
    ["webhook-signature"] = "v1," .. evkit.crypto.base64_encode(evkit.crypto.hmac_sha256(key or KEY, id .. "." .. ts .. "." .. body)),
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
  local w = world({ INGESTION_WEBHOOK_SECRET = evkit.crypto.base64_encode(KEY), INGESTION_WEBHOOK_TOKEN = "t" })
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

-- The old offline harness carried its own SHA-256; the tests now run on evkit's
-- crypto, which this pins to the published vectors the signatures rely on.
test("harness: sha256 and HMAC agree with openssl", function()
  -- FIPS 180-2 "abc", as `printf abc | openssl dgst -sha256` prints it.
  eq(kit.hex_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  -- RFC 4231 test case 2.
  eq(evkit.crypto.hex(evkit.crypto.hmac_sha256("Jefe", "what do ya want for nothing?")),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
end)

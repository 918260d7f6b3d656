-- What the sample app's tests share: the seed example, the answers the
-- starter kit gives, CloudEvents as delivered, and a world whose outbound
-- HTTP answers like a server that accepts everything (tests that check
-- failures set world.http to their own responder).
local t = require("evkit.test")

local kit = { t = t }

-- onboarding/config/events.json, decoded: entity -> provider -> code -> {sampleEventTemplate}.
kit.EVENTS = require("onboarding.config.events")

kit.SEED = {
  data = {
    uid = "event_uid_1",
    event = "be-observer.catalog_product_create",
    value = { sku = "PRODUCT_SKU", name = "Product SKU", price = 1, description = "Product SKU description" },
  },
}

kit.PRODUCT = { sku = "SKU-1", name = "Bag", price = 9.5, description = "A bag" }

function kit.published(code)
  return { statusCode = 200, body = { type = code, response = { success = true, message = "Event published successfully" } } }
end

function kit.err(status, message) return { error = { statusCode = status, body = { error = message } } } end

function kit.accept_all() return { status = 200, headers = {}, body = "{}" } end

function kit.world(env)
  local w = t.world(env)
  w.http = kit.accept_all
  return w
end

-- A delivered CloudEvent, as the consumer receives it.
function kit.event(code, data)
  return { specversion = "1.0", type = code, source = "urn:uuid:11111111-2222-4333-8444-555555555555",
           id = "evt-1", time = "2024-08-05T10:03:49Z", datacontenttype = "application/json", data = data }
end

-- Commerce wraps its entity in data.value; the webhook publishes the back office's value as data.
function kit.sample_data(entity, provider, code)
  return kit.EVENTS[entity][provider][code].sampleEventTemplate
end

function kit.hex_sha256(text) return evkit.crypto.hex(evkit.crypto.sha256(text)) end

return kit

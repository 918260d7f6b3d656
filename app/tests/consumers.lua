-- The consumers: routing events of every registration to their handlers, and
-- turning the handlers' answers into delivery outcomes.
local kit = require("helpers.kit")
local t, json = kit.t, evkit.json
local test, eq, ok, show = t.test, t.eq, t.ok, t.show
local world, event, err, sample_data = kit.world, kit.event, kit.err, kit.sample_data
local EVENTS, SEED, PUBLISHED, PRODUCT = kit.EVENTS, kit.SEED, kit.published, kit.PRODUCT

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
        eq(message, "Commerce API unreachable for PUT V1/products/SKU-1: connect: connection refused")
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
    w.on_invoke = function() if case[1] then return case[1], { activationId = "x" } end return nil, "timed out" end
    eq(w:deliver("product-backoffice", event(code, { sku = "S" })), case[2], show(case[1]))
  end
end)


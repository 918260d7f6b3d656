-- Echoes: a change we propagated that comes back from the other side is skipped.
local kit = require("helpers.kit")
local t, json = kit.t, evkit.json
local test, eq, ok, show = t.test, t.eq, t.ok, t.show
local world, event, err, sample_data = kit.world, kit.event, kit.err, kit.sample_data
local EVENTS, SEED, PUBLISHED, PRODUCT = kit.EVENTS, kit.SEED, kit.published, kit.PRODUCT

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
  eq(w.state["ilk_SKU-1.commerce"].value, kit.hex_sha256('{"product":"SKU-1","description":"A bag"}'))
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


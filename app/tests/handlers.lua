-- The handlers: requests sent to Commerce and the back office, OAuth 1.0a and
-- IMS credentials, dry runs, validation messages.
local kit = require("helpers.kit")
local t, json = kit.t, evkit.json
local test, eq, ok, show = t.test, t.eq, t.ok, t.show
local world, event, err, sample_data = kit.world, kit.event, kit.err, kit.sample_data
local EVENTS, SEED, PUBLISHED, PRODUCT = kit.EVENTS, kit.SEED, kit.published, kit.PRODUCT

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
  local oauth1 = require("oauth1")
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
  eq(fields.oauth_signature, enc(evkit.crypto.base64_encode(evkit.crypto.hmac_sha256("cs%261&ats", base))))
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
     "'data.name' must be a string, got number; 'data.sku' is required")
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


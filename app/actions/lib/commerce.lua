-- The Adobe Commerce REST client the back-office handlers use: the calls of
-- the starter kit's commerce-*-api-client.js, each returning an outcome (see
-- outbound.lua).
--
-- URLs are COMMERCE_BASE_URL .. "V1/" .. resource, as the kit builds them:
-- COMMERCE_BASE_URL is the instance's REST root ending in "/", e.g.
-- https://shop.example.com/rest/ (PaaS; a store code such as
-- https://shop.example.com/rest/default/ works too) or the REST endpoint of a
-- SaaS tenant, https://na1.api.commerce.adobe.com/<tenant>/.
--
-- Authentication, chosen as the kit chooses it:
--   COMMERCE_CONSUMER_KEY set  -> OAuth 1.0a, HMAC-SHA256 (oauth1.lua) with
--                                 COMMERCE_CONSUMER_SECRET, COMMERCE_ACCESS_TOKEN,
--                                 COMMERCE_ACCESS_TOKEN_SECRET
--   else OAUTH_CLIENT_ID set   -> a server-to-server bearer token, fetched by
--                                 client credentials from OAUTH_BASE_URL .. "v3"
--                                 (IMS: https://ims-na1.adobelogin.com/ims/token/v3)
--                                 with OAUTH_CLIENT_SECRET and OAUTH_SCOPES, and
--                                 kept in evkit.state until shortly before it expires
--   else COMMERCE_ACCESS_TOKEN -> sent as a bearer token (an integration token
--                                 Commerce accepts as a standalone bearer token)
local outbound = require("outbound")
local oauth1 = require("oauth1")
local url = require("url")

local commerce = {}

commerce.API_VERSION = "V1"
commerce.DEFAULT_OAUTH_BASE_URL = "https://ims-na1.adobelogin.com/ims/token/"
-- The kit's DEFAULT_IMS_SCOPES, used while OAUTH_SCOPES is empty.
commerce.DEFAULT_SCOPES = {
  "AdobeID", "openid", "read_organizations", "additional_info.projectedProductContext", "additional_info.roles",
  "adobeio_api", "read_client_secret", "manage_client_secrets", "commerce.accs",
}
-- A cached token is dropped this long before IMS says it expires.
commerce.TOKEN_MARGIN_SECONDS = 300

local set = outbound.is_set

function commerce.auth_mode(params)
  if set(params, "COMMERCE_CONSUMER_KEY") then return "oauth1" end
  if set(params, "OAUTH_CLIENT_ID") then return "ims" end
  if set(params, "COMMERCE_ACCESS_TOKEN") then return "bearer" end
  return nil
end

-- The full URL of a REST resource ("products/SKU-1").
function commerce.url(params, resource)
  local base = params.COMMERCE_BASE_URL
  if string.sub(base, -1) ~= "/" then base = base .. "/" end
  return base .. commerce.API_VERSION .. "/" .. resource
end

-- OAUTH_SCOPES as IMS wants it: comma-separated, no spaces. Accepts
-- "a, b, c" (the kit's env.dist) or a JSON list ["a","b"] (its README).
function commerce.scopes(params)
  local raw = params.OAUTH_SCOPES
  local list = {}
  if type(raw) == "table" then
    list = raw
  elseif type(raw) == "string" and raw ~= "" and raw ~= "$OAUTH_SCOPES" then
    for scope in string.gmatch(raw, "[^,%[%]\"'%s]+") do list[#list + 1] = scope end
  end
  if #list == 0 then list = commerce.DEFAULT_SCOPES end
  return table.concat(list, ",")
end

local function token_base(params)
  local base = set(params, "OAUTH_BASE_URL") and params.OAUTH_BASE_URL or commerce.DEFAULT_OAUTH_BASE_URL
  if string.sub(base, -1) ~= "/" then base = base .. "/" end
  return base
end

-- The state key of the cached token: one per token endpoint, client and scopes.
local function token_key(params)
  local id = token_base(params) .. "\n" .. params.OAUTH_CLIENT_ID .. "\n" .. commerce.scopes(params)
  return "commerce.ims-token." .. string.sub(evkit.crypto.hex(evkit.crypto.sha256(id)), 1, 32)
end

local function form(fields)
  local parts = {}
  for i, f in ipairs(fields) do parts[i] = oauth1.encode(f[1]) .. "=" .. oauth1.encode(f[2]) end
  return table.concat(parts, "&")
end

-- A bearer token: the cached one, or a new one from the token endpoint.
-- Returns token, or nil and an outcome describing the failure.
function commerce.token(params, fresh)
  local key = token_key(params)
  if not fresh then
    local cached = evkit.state.get(key)
    if type(cached) == "string" and cached ~= "" then return cached end
  end
  local endpoint = token_base(params) .. "v3"
  local res, err = evkit.http.request{
    method = "POST",
    url = endpoint,
    headers = { ["content-type"] = "application/x-www-form-urlencoded", accept = "application/json" },
    body = form{
      { "grant_type", "client_credentials" },
      { "client_id", params.OAUTH_CLIENT_ID },
      { "client_secret", params.OAUTH_CLIENT_SECRET or "" },
      { "scope", commerce.scopes(params) },
    },
    timeout = outbound.TIMEOUT_MS,
  }
  local request = "POST " .. endpoint
  if not res then
    return nil, { success = false, statusCode = 500,
                  message = "OAuth token endpoint unreachable for " .. request .. ": " .. outbound.scrub(params, err) }
  end
  local status = tonumber(res.status) or 0
  local ok, answer = pcall(evkit.json.decode, res.body or "")
  if status ~= 200 or not ok or type(answer) ~= "table" or type(answer.access_token) ~= "string" then
    -- IMS answers {"error": "invalid_client", ...}; never echo the body whole.
    local why = ok and type(answer) == "table" and type(answer.error) == "string" and answer.error or "no access_token"
    return nil, { success = false, statusCode = (status == 429 or status >= 500 or status == 200) and 500 or 400,
                  message = "OAuth token request " .. request .. " answered " .. status .. ": " .. outbound.scrub(params, why) }
  end
  local ttl = (tonumber(answer.expires_in) or 3600) - commerce.TOKEN_MARGIN_SECONDS
  if ttl > 0 then evkit.state.put(key, answer.access_token, { ttl = ttl }) end
  return answer.access_token
end

-- The Authorization header for method url, or nil and an outcome.
function commerce.authorization(params, method, full_url, fresh)
  local mode = commerce.auth_mode(params)
  if mode == "oauth1" then
    return oauth1.authorization(method, full_url, {
      consumer_key = params.COMMERCE_CONSUMER_KEY,
      consumer_secret = params.COMMERCE_CONSUMER_SECRET or "",
      token = params.COMMERCE_ACCESS_TOKEN or "",
      token_secret = params.COMMERCE_ACCESS_TOKEN_SECRET or "",
    })
  elseif mode == "ims" then
    local token, failure = commerce.token(params, fresh)
    if not token then return nil, failure end
    return "Bearer " .. token
  elseif mode == "bearer" then
    return "Bearer " .. params.COMMERCE_ACCESS_TOKEN
  end
  return nil, { success = false, statusCode = 500,
                message = "Unknown auth type, supported IMS OAuth or Commerce OAuth1: set COMMERCE_CONSUMER_KEY, "
                  .. "COMMERCE_CONSUMER_SECRET, COMMERCE_ACCESS_TOKEN and COMMERCE_ACCESS_TOKEN_SECRET, "
                  .. "or OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET" }
end

-- method resource (relative to V1/, path segments already encoded) with body
-- (a table sent as JSON, or nil). Returns an outcome (outbound.lua), or the
-- dry-run outcome while COMMERCE_BASE_URL is empty.
function commerce.request(params, method, resource, body)
  local request = method .. " " .. commerce.API_VERSION .. "/" .. resource
  local encoded = body ~= nil and evkit.json.encode(body) or nil
  if not set(params, "COMMERCE_BASE_URL") then
    return outbound.dry_run(params, "COMMERCE_BASE_URL", request, encoded)
  end
  local full_url = commerce.url(params, resource)
  local function send(fresh)
    local authorization, failure = commerce.authorization(params, method, full_url, fresh)
    if not authorization then return failure end
    return outbound.http(params, {
      label = "Commerce", request = request, method = method, url = full_url,
      headers = { authorization = authorization }, body = encoded,
    })
  end
  local outcome = send(false)
  -- A cached token the server no longer takes (revoked, or the clock moved):
  -- fetch a fresh one once.
  if not outcome.success and outcome.status == 401 and commerce.auth_mode(params) == "ims" then
    outcome = send(true)
  end
  return outcome
end

-- The starter kit's calls (actions/*/commerce-*-api-client.js).
local seg = url.segment

function commerce.createProduct(params, data) return commerce.request(params, "POST", "products", data) end
function commerce.updateProduct(params, data)
  return commerce.request(params, "PUT", "products/" .. seg(data.product.sku), data)
end
function commerce.deleteProduct(params, sku) return commerce.request(params, "DELETE", "products/" .. seg(sku)) end

function commerce.createCustomer(params, data) return commerce.request(params, "POST", "customers", data) end
function commerce.updateCustomer(params, data)
  return commerce.request(params, "PUT", "customers/" .. seg(data.customer.id), data)
end
function commerce.deleteCustomer(params, id) return commerce.request(params, "DELETE", "customers/" .. seg(id)) end

function commerce.createCustomerGroup(params, data) return commerce.request(params, "POST", "customerGroups", data) end
function commerce.updateCustomerGroup(params, data)
  return commerce.request(params, "PUT", "customerGroups/" .. seg(data.group.id), data)
end
function commerce.deleteCustomerGroup(params, id)
  return commerce.request(params, "DELETE", "customerGroups/" .. seg(id))
end

function commerce.addOrderComment(params, orderId, data)
  return commerce.request(params, "POST", "orders/" .. seg(orderId) .. "/comments", data)
end
function commerce.createShipment(params, orderId, data)
  return commerce.request(params, "POST", "order/" .. seg(orderId) .. "/ship", data)
end
function commerce.updateShipment(params, data) return commerce.request(params, "POST", "shipment", data) end

function commerce.updateStock(params, data) return commerce.request(params, "POST", "inventory/source-items", data) end

return commerce

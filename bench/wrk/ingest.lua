-- POSTs the seed's example to the ingestion webhook with a unique data.uid
-- per request ("<prefix>-<thread>-<n>"), so every request is a durable
-- write rather than a dedup hit. $WRK_PREFIX keeps runs apart.
dofile((os.getenv("WRK_DIR") or "bench/wrk") .. "/report.lua")

local prefix = os.getenv("WRK_PREFIX") or tostring(os.time())
local path = os.getenv("WRK_PATH") or "/api/v1/web/evkit/ingestion/webhook"
local headers = { ["Content-Type"] = "application/json" }
local n = 0

function request()
  n = n + 1
  local body = string.format(
    '{"data":{"uid":"%s-%d-%d","event":"be-observer.catalog_product_create",' ..
    '"value":{"sku":"PRODUCT_SKU","name":"Product SKU","price":1,"description":"Product SKU description"}}}',
    prefix, tid or 0, n)
  return wrk.format("POST", path, headers, body)
end

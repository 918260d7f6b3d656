-- bench/publish: publishes one backoffice product event per request
-- (no idempotency key: every request is a new, durable event).
function main(params)
  local published, err = evkit.publish("backoffice", "be-observer.catalog_product_create", {
    sku = "BENCH-" .. tostring(params.i or 0),
    name = "Bench product",
    price = 1,
    description = "bench/deliver",
  })
  if not published then
    return { error = { statusCode = 500, body = { error = tostring(err) } } }
  end
  return { statusCode = 200, body = { id = published.id } }
end

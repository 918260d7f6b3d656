-- bench/publish-lua, bench/publish-node: publishes one backoffice product
-- event of the type in the EVENT_TYPE input per request (no idempotency key:
-- every request is a new, durable event).
function main(params)
  local published, err = evkit.publish("backoffice", params.EVENT_TYPE, {
    sku = "BENCH-" .. tostring(params.i or 0),
    name = "Bench product",
    price = 1,
    description = "bench/node",
  })
  if not published then
    return { error = { statusCode = 500, body = { error = tostring(err) } } }
  end
  return { statusCode = 200, body = { id = published.id } }
end

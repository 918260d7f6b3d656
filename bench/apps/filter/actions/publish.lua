-- bench/publish: one backoffice product event per request, with the fields
-- the bench's filters look at.
function main(params)
  local i = params.i or 0
  local published, err = evkit.publish("backoffice", "be-observer.catalog_product_create", {
    sku = "BENCH-" .. tostring(i),
    name = "Bench product",
    price = i % 50,
    store = "eu-west",
    tags = { "bench", "filter" },
  })
  if not published then
    return { error = { statusCode = 500, body = { error = tostring(err) } } }
  end
  return { statusCode = 200, body = { id = published.id } }
end

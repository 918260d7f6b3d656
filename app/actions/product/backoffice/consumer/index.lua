-- product-backoffice/consumer: routes back-office product events to their handlers.
local consumer = require("consumer")
local product = require("entities.product").backoffice

main = consumer.new{
  package = "product-backoffice",
  provider = "backoffice",
  routes = {
    ["be-observer.catalog_product_create"] = { handler = "created", echo = product.saved },
    ["be-observer.catalog_product_update"] = { handler = "updated", echo = product.saved },
    ["be-observer.catalog_product_delete"] = { handler = "deleted", echo = product.deleted },
  },
}

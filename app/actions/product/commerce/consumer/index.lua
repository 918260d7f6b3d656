-- product-commerce/consumer: routes Commerce product events to their handlers.
local consumer = require("consumer")
local product = require("entities.product").commerce

main = consumer.new{
  package = "product-commerce",
  provider = "commerce",
  routes = {
    ["com.adobe.commerce.observer.catalog_product_save_commit_after"] = {
      handler = consumer.by_timestamps("created", "updated"), echo = product.saved },
    ["com.adobe.commerce.observer.catalog_product_delete_commit_after"] = {
      handler = "deleted", echo = product.deleted },
  },
}

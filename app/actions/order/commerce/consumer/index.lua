-- order-commerce/consumer: routes Commerce order events to their handlers.
-- Commerce's order save event stands for both placement and update: the
-- starter kit tells them apart by created_at == updated_at.
local consumer = require("consumer")
local order = require("entities.order").commerce

main = consumer.new{
  package = "order-commerce",
  provider = "commerce",
  routes = {
    ["com.adobe.commerce.observer.sales_order_save_commit_after"] = {
      handler = consumer.by_timestamps("created", "updated"), echo = order.saved },
  },
}

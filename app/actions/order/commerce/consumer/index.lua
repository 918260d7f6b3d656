-- order-commerce/consumer: routes Commerce order events to their handler.
local consumer = require("consumer")
local order = require("entities.order").commerce

main = consumer.new{
  package = "order-commerce",
  provider = "commerce",
  routes = {
    ["com.adobe.commerce.observer.sales_order_save_commit_after"] = { handler = "updated", echo = order.saved },
  },
}

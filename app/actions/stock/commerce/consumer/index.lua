-- stock-commerce/consumer: routes Commerce stock item events to their handler.
local consumer = require("consumer")
local stock = require("entities.stock").commerce

main = consumer.new{
  package = "stock-commerce",
  provider = "commerce",
  routes = {
    ["com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after"] = {
      handler = "updated", echo = stock.saved },
  },
}

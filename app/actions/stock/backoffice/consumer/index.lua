-- stock-backoffice/consumer: routes back-office stock events to their handler.
local consumer = require("consumer")
local stock = require("entities.stock").backoffice

main = consumer.new{
  package = "stock-backoffice",
  provider = "backoffice",
  routes = {
    ["be-observer.catalog_stock_update"] = { handler = "updated", echo = stock.updated },
  },
}

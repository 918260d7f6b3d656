-- order-backoffice/consumer: routes back-office order status and shipment
-- events to their handlers. Shipments have no echo check: Commerce answers a
-- shipment with an order save event, which order.lua fingerprints by status.
local consumer = require("consumer")
local order = require("entities.order").backoffice

main = consumer.new{
  package = "order-backoffice",
  provider = "backoffice",
  routes = {
    ["be-observer.sales_order_status_update"] = { handler = "updated", echo = order.status_updated },
    ["be-observer.sales_order_shipment_create"] = { handler = "shipment-created" },
    ["be-observer.sales_order_shipment_update"] = { handler = "shipment-updated" },
  },
}

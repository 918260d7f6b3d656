-- order-backoffice/shipment-created: a shipment created in the back office is created in Commerce (POST V1/order/<orderId>/ship).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "order-backoffice/shipment-created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Shipment created successfully",
}

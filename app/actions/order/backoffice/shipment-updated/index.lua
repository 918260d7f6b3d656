-- order-backoffice/shipment-updated: a shipment updated in the back office is saved in Commerce (POST V1/shipment).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "order-backoffice/shipment-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Shipment updated successfully",
}

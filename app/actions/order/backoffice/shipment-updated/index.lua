-- order-backoffice/shipment-updated: a shipment updated in the back office is updated in Commerce.
main = require("handler").new{
  name = "order-backoffice/shipment-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Shipment updated in Commerce",
}

-- order-backoffice/shipment-created: a shipment created in the back office ships the order in Commerce.
main = require("handler").new{
  name = "order-backoffice/shipment-created",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Shipment created in Commerce",
}

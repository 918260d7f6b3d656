-- order-backoffice/updated: an order status changed in the back office is set in Commerce.
main = require("handler").new{
  name = "order-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Order status updated in Commerce",
  echo = require("entities.order").backoffice.status_updated,
}

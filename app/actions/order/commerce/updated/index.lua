-- order-commerce/updated: an order saved in Commerce is updated in the back office.
main = require("handler").new{
  name = "order-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Order updated in the back office",
  echo = require("entities.order").commerce.saved,
}

-- customer-commerce/updated: a customer updated in Commerce is updated in the back office.
main = require("handler").new{
  name = "customer-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer updated in the back office",
  echo = require("entities.customer").commerce.saved,
}

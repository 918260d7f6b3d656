-- customer-commerce/deleted: a customer deleted in Commerce is deleted in the back office.
main = require("handler").new{
  name = "customer-commerce/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer deleted in the back office",
  echo = require("entities.customer").commerce.deleted,
}

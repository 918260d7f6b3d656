-- customer-commerce/group-updated: a customer group saved in Commerce is saved in the back office.
main = require("handler").new{
  name = "customer-commerce/group-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer group saved in the back office",
  echo = require("entities.customer").commerce.group_saved,
}

-- customer-backoffice/group-created: a customer group created in the back office is created in Commerce.
main = require("handler").new{
  name = "customer-backoffice/group-created",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer group created in Commerce",
  echo = require("entities.customer").backoffice.group_saved,
}

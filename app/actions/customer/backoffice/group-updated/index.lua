-- customer-backoffice/group-updated: a customer group updated in the back office is updated in Commerce.
main = require("handler").new{
  name = "customer-backoffice/group-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer group updated in Commerce",
  echo = require("entities.customer").backoffice.group_saved,
}

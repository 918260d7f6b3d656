-- customer-backoffice/group-deleted: a customer group deleted in the back office is deleted in Commerce.
main = require("handler").new{
  name = "customer-backoffice/group-deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer group deleted in Commerce",
  echo = require("entities.customer").backoffice.group_deleted,
}

-- customer-backoffice/deleted: a customer deleted in the back office is deleted in Commerce.
main = require("handler").new{
  name = "customer-backoffice/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer deleted in Commerce",
  echo = require("entities.customer").backoffice.deleted,
}

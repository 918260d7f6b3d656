-- customer-backoffice/updated: a customer updated in the back office is updated in Commerce.
main = require("handler").new{
  name = "customer-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer updated in Commerce",
  echo = require("entities.customer").backoffice.saved,
}

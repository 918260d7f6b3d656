-- customer-backoffice/created: a customer created in the back office is created in Commerce.
main = require("handler").new{
  name = "customer-backoffice/created",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer created in Commerce",
  echo = require("entities.customer").backoffice.saved,
}

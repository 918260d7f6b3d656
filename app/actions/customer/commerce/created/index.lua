-- customer-commerce/created: a customer created in Commerce is created in the back office.
main = require("handler").new{
  name = "customer-commerce/created",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer created in the back office",
  echo = require("entities.customer").commerce.saved,
}

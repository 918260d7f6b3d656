-- product-backoffice/updated: a product updated in the back office is updated in Commerce.
main = require("handler").new{
  name = "product-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Product updated in Commerce",
  echo = require("entities.product").backoffice.saved,
}

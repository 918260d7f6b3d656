-- product-backoffice/created: a product created in the back office is created in Commerce.
main = require("handler").new{
  name = "product-backoffice/created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Product created in Commerce",
  echo = require("entities.product").backoffice.saved,
}

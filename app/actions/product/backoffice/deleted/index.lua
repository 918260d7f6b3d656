-- product-backoffice/deleted: a product deleted in the back office is deleted in Commerce.
main = require("handler").new{
  name = "product-backoffice/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Product deleted in Commerce",
  echo = require("entities.product").backoffice.deleted,
}

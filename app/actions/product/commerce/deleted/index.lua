-- product-commerce/deleted: a product deleted in Commerce is deleted in the back office.
main = require("handler").new{
  name = "product-commerce/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Product deleted in the back office",
  echo = require("entities.product").commerce.deleted,
}

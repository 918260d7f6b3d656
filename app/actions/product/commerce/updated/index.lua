-- product-commerce/updated: a product updated in Commerce is updated in the back office.
main = require("handler").new{
  name = "product-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Product updated in the back office",
  echo = require("entities.product").commerce.saved,
}

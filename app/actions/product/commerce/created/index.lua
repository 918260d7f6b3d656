-- product-commerce/created: a product created in Commerce is created in the back office.
main = require("handler").new{
  name = "product-commerce/created",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Product created in the back office",
  echo = require("entities.product").commerce.saved,
}

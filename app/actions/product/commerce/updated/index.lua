-- product-commerce/updated: a product updated in Commerce is updated in the back office (PUT /product/<sku>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "product-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Product updated successfully",
  echo = require("entities.product").commerce.saved, -- the loop breaker, see lib/fingerprint.lua
}

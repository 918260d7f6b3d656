-- product-commerce/deleted: a product deleted in Commerce is deleted in the back office (DELETE /product/<sku>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "product-commerce/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Product deleted successfully",
  echo = require("entities.product").commerce.deleted, -- the loop breaker, see lib/fingerprint.lua
}

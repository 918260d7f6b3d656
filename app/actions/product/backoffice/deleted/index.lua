-- product-backoffice/deleted: a product deleted in the back office is deleted in Commerce (DELETE V1/products/<sku>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "product-backoffice/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Product deleted successfully",
  echo = require("entities.product").backoffice.deleted, -- the loop breaker, see lib/fingerprint.lua
}

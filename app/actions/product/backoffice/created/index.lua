-- product-backoffice/created: a product created in the back office is created in Commerce (POST V1/products).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "product-backoffice/created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Product created successfully",
  echo = require("entities.product").backoffice.saved, -- the loop breaker, see lib/fingerprint.lua
}

-- customer-commerce/deleted: a customer deleted in Commerce is deleted in the back office (DELETE /customer/<id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-commerce/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer deleted successfully",
  echo = require("entities.customer").commerce.deleted, -- the loop breaker, see lib/fingerprint.lua
}

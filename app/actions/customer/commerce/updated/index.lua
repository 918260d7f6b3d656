-- customer-commerce/updated: a customer updated in Commerce is updated in the back office (PUT /customer/<id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer updated successfully",
  echo = require("entities.customer").commerce.saved, -- the loop breaker, see lib/fingerprint.lua
}

-- order-commerce/updated: an order updated in Commerce is updated in the back office (PUT /order/<id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "order-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Order updated successfully",
  echo = require("entities.order").commerce.saved, -- the loop breaker, see lib/fingerprint.lua
}

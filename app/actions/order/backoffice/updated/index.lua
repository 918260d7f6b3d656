-- order-backoffice/updated: an order status set in the back office becomes a status comment on the Commerce order (POST V1/orders/<id>/comments).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "order-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Order updated successfully",
  echo = require("entities.order").backoffice.status_updated, -- the loop breaker, see lib/fingerprint.lua
}

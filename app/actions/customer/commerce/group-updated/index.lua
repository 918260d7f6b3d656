-- customer-commerce/group-updated: a customer group saved in Commerce is saved in the back office (PUT /customer-group/<id>; Commerce's save event does not tell creation from update).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-commerce/group-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer group updated successfully",
  echo = require("entities.customer").commerce.group_saved, -- the loop breaker, see lib/fingerprint.lua
}

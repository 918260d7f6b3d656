-- customer-backoffice/group-updated: a customer group updated in the back office is updated in Commerce (PUT V1/customerGroups/<id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-backoffice/group-updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer group updated successfully",
  echo = require("entities.customer").backoffice.group_saved, -- the loop breaker, see lib/fingerprint.lua
}

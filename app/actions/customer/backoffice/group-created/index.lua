-- customer-backoffice/group-created: a customer group created in the back office is created in Commerce (POST V1/customerGroups).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-backoffice/group-created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer group created successfully",
  echo = require("entities.customer").backoffice.group_saved, -- the loop breaker, see lib/fingerprint.lua
}

-- customer-backoffice/deleted: a customer deleted in the back office is deleted in Commerce (DELETE V1/customers/<id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-backoffice/deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer deleted successfully",
  echo = require("entities.customer").backoffice.deleted, -- the loop breaker, see lib/fingerprint.lua
}

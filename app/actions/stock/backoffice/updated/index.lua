-- stock-backoffice/updated: stock set in the back office is saved as Commerce source items (POST V1/inventory/source-items).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "stock-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Stock updated successfully",
  echo = require("entities.stock").backoffice.updated, -- the loop breaker, see lib/fingerprint.lua
}

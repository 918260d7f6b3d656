-- stock-commerce/updated: a stock item saved in Commerce is saved in the back office (PUT /stock/<product_id>).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "stock-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Stock updated successfully",
  echo = require("entities.stock").commerce.saved, -- the loop breaker, see lib/fingerprint.lua
}

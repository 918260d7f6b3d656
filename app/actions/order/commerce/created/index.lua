-- order-commerce/created: an order placed in Commerce is created in the back office (POST /order).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "order-commerce/created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Order created successfully",
}

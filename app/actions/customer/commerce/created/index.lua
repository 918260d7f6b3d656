-- customer-commerce/created: a customer created in Commerce is created in the back office (POST /customer).
-- The starter kit's handler pipeline; each step is a small module in this
-- folder: validator.lua -> transformer.lua -> pre.lua -> sender.lua -> post.lua.
main = require("handler").new{
  name = "customer-commerce/created",
  validator = require("validator"),
  transformer = require("transformer"),
  pre = require("pre"),
  sender = require("sender"),
  post = require("post"),
  message = "Customer created successfully",
  echo = require("entities.customer").commerce.saved, -- the loop breaker, see lib/fingerprint.lua
}

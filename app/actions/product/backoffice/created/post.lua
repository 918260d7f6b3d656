-- Runs after a successful sendData (not on dry runs), with Commerce's
-- answer in outcome.body: the place to store a cross-reference or notify
-- someone. Here it logs the id Commerce gave the new product. Other handlers
-- can have a post.lua too: add `post = require("post")` to their index.lua.
local logger = require("logger")

local post = {}

function post.postProcess(params, transformed, preProcessed, outcome)
  local product = type(outcome.body) == "table" and outcome.body or {}
  logger.new("product-backoffice/created", params.LOG_LEVEL)
    .info("Commerce product id ", tostring(product.id), " for SKU ", params.data.sku)
end

return post

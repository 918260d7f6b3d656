-- stock-commerce/updated: a stock item saved in Commerce is updated in the back office.
main = require("handler").new{
  name = "stock-commerce/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Stock updated in the back office",
  echo = require("entities.stock").commerce.saved,
}

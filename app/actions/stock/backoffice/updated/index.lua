-- stock-backoffice/updated: stock changed in the back office is set in Commerce.
main = require("handler").new{
  name = "stock-backoffice/updated",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Stock updated in Commerce",
  echo = require("entities.stock").backoffice.updated,
}

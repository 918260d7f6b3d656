-- customer-commerce/group-deleted: a customer group deleted in Commerce is deleted in the back office.
main = require("handler").new{
  name = "customer-commerce/group-deleted",
  validator = require("validator"),
  transformer = require("transformer"),
  sender = require("sender"),
  message = "Customer group deleted in the back office",
  echo = require("entities.customer").commerce.group_deleted,
}

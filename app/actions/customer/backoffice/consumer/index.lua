-- customer-backoffice/consumer: routes back-office customer and customer
-- group events to their handlers.
local consumer = require("consumer")
local customer = require("entities.customer").backoffice

main = consumer.new{
  package = "customer-backoffice",
  provider = "backoffice",
  routes = {
    ["be-observer.customer_create"] = { handler = "created", echo = customer.saved },
    ["be-observer.customer_update"] = { handler = "updated", echo = customer.saved },
    ["be-observer.customer_delete"] = { handler = "deleted", echo = customer.deleted },
    ["be-observer.customer_group_create"] = { handler = "group-created", echo = customer.group_saved },
    ["be-observer.customer_group_update"] = { handler = "group-updated", echo = customer.group_saved },
    ["be-observer.customer_group_delete"] = { handler = "group-deleted", echo = customer.group_deleted },
  },
}

-- customer-commerce/consumer: routes Commerce customer and customer group
-- events to their handlers. Commerce's group save event does not tell
-- creation from update, so both go to group-updated (an upsert).
local consumer = require("consumer")
local customer = require("entities.customer").commerce

main = consumer.new{
  package = "customer-commerce",
  provider = "commerce",
  routes = {
    ["com.adobe.commerce.observer.customer_save_commit_after"] = {
      handler = consumer.by_timestamps("created", "updated"), echo = customer.saved },
    ["com.adobe.commerce.observer.customer_delete_commit_after"] = {
      handler = "deleted", echo = customer.deleted },
    ["com.adobe.commerce.observer.customer_group_save_commit_after"] = {
      handler = "group-updated", echo = customer.group_saved },
    ["com.adobe.commerce.observer.customer_group_delete_commit_after"] = {
      handler = "group-deleted", echo = customer.group_deleted },
  },
}

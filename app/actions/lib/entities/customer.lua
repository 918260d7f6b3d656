-- How customers and customer groups look to the echo check (see
-- fingerprint.lua). Customers are identified by e-mail, since a customer the
-- back office creates has no Commerce id yet; deletions carry only the id
-- (the back office uses Commerce's ids, as the starter kit does). Groups are
-- identified by their code (the back office's "name") and deleted by id.
local fp = require("fingerprint")

local function customer(email, firstname, lastname)
  local id = type(email) == "string" and string.lower(email) or email
  return { fp.record("ilk_customer_", id, {
    { "email", id }, { "firstname", firstname }, { "lastname", lastname },
  }) }
end

local function deleted(entity, id)
  return { fp.record("ilk_" .. entity .. "_", fp.number(id), { { "id", fp.number(id) }, { "deleted", true } }) }
end

local function group(code, tax_class_id)
  return { fp.record("ilk_customer-group_", code, {
    { "code", code }, { "tax_class_id", fp.number(tax_class_id) },
  }) }
end

return {
  commerce = {
    saved = function(d) return customer(d.email, d.firstname, d.lastname) end,
    deleted = function(d) return deleted("customer", d.id) end,
    group_saved = function(d) return group(d.customer_group_code, d.tax_class_id) end,
    group_deleted = function(d) return deleted("customer-group", d.customer_group_id) end,
  },
  backoffice = {
    saved = function(d) return customer(d.email, d.name, d.lastname) end,
    deleted = function(d) return deleted("customer", d.id) end,
    group_saved = function(d) return group(d.name, d.taxClassId) end,
    group_deleted = function(d) return deleted("customer-group", d.id) end,
  },
}

-- bench/handler-lua: trivial work.
function main(params)
  local sku = type(params.data) == "table" and params.data.sku or nil
  return { statusCode = 200, body = { success = true, message = "handled " .. tostring(sku) } }
end

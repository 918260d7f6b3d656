-- The Commerce stock item in the back office's shape (PUT /stock/<product id>);
-- Commerce sends numbers and flags as strings ("0", "1").
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  local in_stock = data.is_in_stock == true or tonumber(data.is_in_stock) == 1
  return {
    productId = tonumber(data.product_id) or data.product_id,
    sku = data.sku,
    quantity = tonumber(data.qty) or data.qty,
    outOfStock = not in_stock,
  }
end

return transformer

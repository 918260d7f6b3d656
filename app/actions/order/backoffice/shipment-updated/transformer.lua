-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  local function flag(value) return value and 1 or 0 end
  local items, tracks, comments = {}, {}, {}
  for i, item in ipairs(data.items) do
    items[i] = { entity_id = item.entityId, order_item_id = item.orderItemId, qty = item.qty }
  end
  for i, track in ipairs(data.tracks) do
    tracks[i] = {
      entity_id = track.entityId, order_id = data.orderId,
      track_number = track.trackNumber, title = track.title, carrier_code = track.carrierCode,
    }
  end
  for i, comment in ipairs(data.comments) do
    comments[i] = {
      entity_id = comment.entityId, is_customer_notified = flag(comment.notifyCustomer),
      comment = comment.comment, is_visible_on_front = flag(comment.visibleOnFront),
    }
  end
  return {
    entity = {
      entity_id = data.id,
      order_id = data.orderId,
      items = evkit.json.array(items),
      tracks = evkit.json.array(tracks),
      comments = evkit.json.array(comments),
      extension_attributes = { source_code = data.stockSourceCode },
    },
  }
end

return transformer

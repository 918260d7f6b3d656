-- transformData(params) -> what sendData sends: params.data is the entity of
-- the event (already validated).
local transformer = {}

function transformer.transformData(params)
  local data = params.data
  local items, tracks = {}, {}
  for i, item in ipairs(data.items) do
    items[i] = { order_item_id = item.orderItemId, qty = item.qty }
  end
  for i, track in ipairs(data.tracks) do
    tracks[i] = { track_number = track.trackNumber, title = track.title, carrier_code = track.carrierCode }
  end
  return {
    items = evkit.json.array(items),
    tracks = evkit.json.array(tracks),
    comment = { comment = data.comment.comment, is_visible_on_front = data.comment.visibleOnFront and 1 or 0 },
    extension_attributes = { source_code = data.stockSourceCode },
  }
end

return transformer

-- Standard Webhooks signature verification (https://www.standardwebhooks.com):
--   webhook-id, webhook-timestamp (unix seconds), webhook-signature: a
--   space-separated list of "v1,<base64 HMAC-SHA256>" over
--   "<id>.<timestamp>.<raw body>", keyed with the base64-decoded secret
--   ("whsec_<base64>"). The timestamp must be within 5 minutes of now, either
--   way, so that a captured request cannot be replayed later; within that
--   window a webhook-id is accepted once (receivers dedupe on webhook-id),
--   remembered in the action state for twice the tolerance.
-- The raw body is __ow_raw_body: evkit adds it to web actions annotated
-- `signed-body: true`, because re-encoding the parsed JSON would not give
-- back the exact bytes that were signed.
local standard_webhooks = {}

standard_webhooks.TOLERANCE_SECONDS = 5 * 60

local function key_of(secret)
  local encoded = string.gsub(secret, "^whsec_", "")
  return evkit.crypto.base64_decode(encoded)
end

-- true, or false and the reason.
function standard_webhooks.verify(secret, headers, raw_body, now)
  local id, timestamp, signatures = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
  if type(id) ~= "string" or type(timestamp) ~= "string" or type(signatures) ~= "string" then
    return false, "missing webhook-id, webhook-timestamp or webhook-signature header"
  end
  if type(raw_body) ~= "string" then
    return false, "the raw request body is unavailable: annotate the webhook action with signed-body: true"
  end

  local sent_at = string.match(timestamp, "^%d+$") and tonumber(timestamp)
  if not sent_at then return false, "invalid webhook-timestamp header" end
  if now - sent_at > standard_webhooks.TOLERANCE_SECONDS then return false, "webhook timestamp too old" end
  if sent_at - now > standard_webhooks.TOLERANCE_SECONDS then return false, "webhook timestamp too new" end

  local key, err = key_of(secret)
  if not key then return false, "INGESTION_WEBHOOK_SECRET is not valid base64: " .. tostring(err) end
  local expected = evkit.crypto.base64_encode(
    evkit.crypto.hmac_sha256(key, id .. "." .. timestamp .. "." .. raw_body))

  -- Any v1 entry may match (senders list several while rotating secrets).
  local matched = false
  for entry in string.gmatch(signatures, "%S+") do
    local version, signature = string.match(entry, "^([^,]+),(.+)$")
    if version == "v1" and evkit.crypto.equals(signature, expected) then matched = true end
  end
  if not matched then return false, "invalid webhook signature" end

  local seen_key = "webhook-id." .. evkit.crypto.hex(evkit.crypto.sha256(id))
  if evkit.state.get(seen_key) then return false, "replayed webhook-id" end
  evkit.state.put(seen_key, true, { ttl = 2 * standard_webhooks.TOLERANCE_SECONDS })
  return true
end

return standard_webhooks

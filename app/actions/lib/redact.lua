-- Params rendered for debug logs without credentials: inputs and headers
-- whose names look secret are hidden, and the raw body is only measured.
-- (stringParameters in the starter kit hides the authorization header only;
-- here the webhook token and signature headers must not leak either.)
local SENSITIVE = { "token", "secret", "password", "key", "auth", "signature", "cookie" }

local redact = {}

local function is_sensitive(name, extra)
  name = string.lower(name)
  if extra and name == extra then return true end
  for _, word in ipairs(SENSITIVE) do
    if string.find(name, word, 1, true) then return true end
  end
  return false
end

local function hide_keys(t, extra)
  local copy = {}
  for k, v in pairs(t) do
    copy[k] = (type(k) == "string" and is_sensitive(k, extra)) and "<hidden>" or v
  end
  return copy
end

-- JSON text of params for logging.
function redact.params(params)
  local token_header = type(params.WEBHOOK_TOKEN_HEADER) == "string"
      and string.lower(params.WEBHOOK_TOKEN_HEADER) or nil
  local copy = hide_keys(params)
  if type(params.__ow_headers) == "table" then
    copy.__ow_headers = hide_keys(params.__ow_headers, token_header)
  end
  if type(params.__ow_raw_body) == "string" then
    copy.__ow_raw_body = "<" .. #params.__ow_raw_body .. " bytes>"
  end
  -- Logging must never fail the action.
  local ok, text = pcall(evkit.json.encode, copy)
  return ok and text or ("<params not encodable: " .. tostring(text) .. ">")
end

return redact

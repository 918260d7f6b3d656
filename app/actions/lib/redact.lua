-- Params rendered for debug logs without credentials: inputs and headers
-- whose names look secret are hidden, and the raw body is only measured.
-- (stringParameters in the starter kit hides the authorization header only;
-- here the webhook token and signature headers must not leak either.)
local SENSITIVE = { "token", "secret", "password", "key", "auth", "signature", "cookie" }

local redact = {}

-- The same few names (inputs, usual headers) come with every request: each
-- name's verdict is worked out once per interpreter. The table is emptied
-- when it grows large, as a client may send any header names.
local verdicts, nverdicts = {}, 0

local function looks_sensitive(name)
  local verdict = verdicts[name]
  if verdict ~= nil then return verdict end
  local lower = string.lower(name)
  verdict = false
  for _, word in ipairs(SENSITIVE) do
    if string.find(lower, word, 1, true) then verdict = true break end
  end
  if nverdicts >= 256 then verdicts, nverdicts = {}, 0 end
  verdicts[name], nverdicts = verdict, nverdicts + 1
  return verdict
end

local function is_sensitive(name, extra)
  if extra and string.lower(name) == extra then return true end
  return looks_sensitive(name)
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

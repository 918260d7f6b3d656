-- The shared-token check: the request carries a secret token in a header.
local shared_token = {}

shared_token.DEFAULT_HEADER = "x-webhook-token"

-- true, or false and the reason. headers have lower-case names.
function shared_token.verify(expected, header_name, headers)
  if type(header_name) ~= "string" or header_name == "" then header_name = shared_token.DEFAULT_HEADER end
  header_name = string.lower(header_name)
  local given = headers[header_name]
  -- Compared in constant time, so response timing does not reveal the token.
  if type(given) ~= "string" or not evkit.crypto.equals(given, expected) then
    return false, "missing or invalid " .. header_name .. " header"
  end
  return true
end

return shared_token

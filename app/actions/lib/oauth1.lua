-- OAuth 1.0a request signing (RFC 5849) with HMAC-SHA256, as Adobe Commerce
-- integrations expect it (the starter kit signs with the same method through
-- aio-commerce-lib-auth). The JSON body is not signed (section 3.4.1.3.1: only
-- form-encoded bodies are); query parameters are.
local oauth1 = {}

-- RFC 3986 percent-encoding: everything but ALPHA, DIGIT, "-", ".", "_", "~".
function oauth1.encode(value)
  return (string.gsub(tostring(value), "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function decode(value)
  value = string.gsub(value, "+", " ")
  return (string.gsub(value, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- scheme, authority, path, query of an absolute http(s) URL.
local function split(url)
  local scheme, authority, rest = string.match(url, "^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  rest = string.gsub(rest, "#.*$", "")
  local path, query = string.match(rest, "^([^?]*)%??(.*)$")
  if path == "" then path = "/" end
  return string.lower(scheme), authority, path, query
end

-- The base string URI (3.4.1.2): lower-case scheme and host, the port only
-- when it is not the scheme's default, the path as sent, no query.
function oauth1.base_uri(url)
  local scheme, authority, path = split(url)
  if not scheme then return nil end
  authority = string.gsub(authority, "^.*@", "")
  local host, port = string.match(authority, "^(.-):(%d+)$")
  if not host then host = authority end
  host = string.lower(host)
  if port and not ((scheme == "http" and port == "80") or (scheme == "https" and port == "443")) then
    host = host .. ":" .. port
  end
  return scheme .. "://" .. host .. path
end

-- Query parameters of url as decoded {name, value} pairs.
local function query_params(url)
  local _, _, _, query = split(url)
  local out = {}
  if not query or query == "" then return out end
  for pair in string.gmatch(query, "[^&]+") do
    local name, value = string.match(pair, "^([^=]*)=?(.*)$")
    out[#out + 1] = { decode(name), decode(value) }
  end
  return out
end

-- The signature base string (3.4.1): METHOD&uri&normalized parameters, where
-- the parameters (oauth_* and query, each name and value encoded) are sorted
-- by name, then value, and joined as name=value with "&".
function oauth1.base_string(method, url, oauth_params)
  local pairs_ = query_params(url)
  for name, value in pairs(oauth_params) do pairs_[#pairs_ + 1] = { name, value } end
  local encoded = {}
  for i, p in ipairs(pairs_) do encoded[i] = { oauth1.encode(p[1]), oauth1.encode(p[2]) } end
  table.sort(encoded, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local parts = {}
  for i, p in ipairs(encoded) do parts[i] = p[1] .. "=" .. p[2] end
  return string.upper(method) .. "&" .. oauth1.encode(oauth1.base_uri(url)) .. "&" .. oauth1.encode(table.concat(parts, "&"))
end

-- The Authorization header value for method url, with credentials
-- {consumer_key, consumer_secret, token, token_secret}; nonce and timestamp
-- may be given (tests), else they are fresh.
function oauth1.authorization(method, url, credentials, nonce, timestamp)
  local oauth_params = {
    oauth_consumer_key = credentials.consumer_key,
    oauth_nonce = nonce or (string.gsub(evkit.crypto.uuid(), "-", "")),
    oauth_signature_method = "HMAC-SHA256",
    oauth_timestamp = tostring(timestamp or os.time()),
    oauth_token = credentials.token,
    oauth_version = "1.0",
  }
  local key = oauth1.encode(credentials.consumer_secret) .. "&" .. oauth1.encode(credentials.token_secret or "")
  local base = oauth1.base_string(method, url, oauth_params)
  oauth_params.oauth_signature = evkit.crypto.base64_encode(evkit.crypto.hmac_sha256(key, base))
  local names = {}
  for name in pairs(oauth_params) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. '="' .. oauth1.encode(oauth_params[name]) .. '"' end
  return "OAuth " .. table.concat(parts, ", ")
end

return oauth1

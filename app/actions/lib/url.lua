-- URL building for the outbound API calls.
local url = {}

-- One path segment, percent-encoded (RFC 3986 unreserved characters kept), so
-- that a SKU such as "24-MB01/blue" stays one segment.
function url.segment(value)
  return (string.gsub(tostring(value), "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- base ("https://shop.example.com/rest/default/") + path ("/V1/products").
function url.join(base, path)
  return (string.gsub(base, "/+$", "")) .. "/" .. (string.gsub(path, "^/+", ""))
end

return url

-- Base64 (RFC 4648, padded) for the harness, standing in for evkit.crypto.
local base64 = {}
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local INDEX = {}
for i = 1, 64 do INDEX[ALPHABET:sub(i, i)] = i - 1 end

function base64.encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = ALPHABET:sub((n >> 18) + 1, (n >> 18) + 1) .. ALPHABET:sub(((n >> 12) & 63) + 1, ((n >> 12) & 63) + 1)
      .. (b and ALPHABET:sub(((n >> 6) & 63) + 1, ((n >> 6) & 63) + 1) or "=")
      .. (c and ALPHABET:sub((n & 63) + 1, (n & 63) + 1) or "=")
  end
  return table.concat(out)
end

-- s, or nil and an error, like evkit.crypto.base64_decode.
function base64.decode(s)
  if #s % 4 ~= 0 or s:find("[^%w+/=]") or s:find("=[^=]") then return nil, "invalid base64" end
  local out = {}
  for i = 1, #s, 4 do
    local n, pad = 0, 0
    for j = 0, 3 do
      local c = s:sub(i + j, i + j)
      if c == "=" then pad = pad + 1; n = n << 6 else n = (n << 6) | INDEX[c] end
    end
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end

return base64

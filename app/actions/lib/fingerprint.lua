-- The infinite-loop breaker, as the starter kit's infinite-loop-breaker.js.
--
-- When a handler propagates a change (say a back-office product update sent
-- to Commerce), the target system emits its own event for that change, which
-- would be propagated back, and so on forever. So after a successful
-- propagation the handler stores a fingerprint of the entity (sha256, hex, of
-- the JSON of a few selected fields) in evkit.state for 60 s, under a key
-- both systems' events lead to ("ilk_<sku>" for products, as in the kit); a
-- consumer receiving an event whose entity has exactly that fingerprint
-- answers success without handling it: it is the echo of our own change. A
-- real change differs in a selected field and goes through.
--
-- A record is {key = "ilk_...", fields = {{name, value}, ...}}; the entity
-- modules (entities/*.lua) build records from either system's payload so that
-- the same entity yields the same key and fingerprint on both sides.
local fingerprint = {}

fingerprint.TTL_SECONDS = 60

-- The kit's INVALID_STATE_KEY_CHARS_REGEX: anything else becomes "_".
function fingerprint.sanitize_key(key)
  return (string.gsub(key, "[^%w%-_%.]", "_"))
end

local function is_null(v) return v == nil or v == evkit.json.null end

-- "12" and 12 are the same number to both systems (Commerce sends many
-- numbers as strings); entity modules pass such fields through this.
function fingerprint.number(value)
  return tonumber(value) or value
end

-- JSON text of a scalar as JSON.stringify writes it.
local function json_scalar(value)
  local t = type(value)
  if t == "boolean" then return value and "true" or "false" end
  if t == "number" then
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then return string.format("%d", value) end
    return string.format("%.17g", value)
  end
  return '"' .. string.gsub(tostring(value), '[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                    ["\b"] = "\\b", ["\f"] = "\\f" }
    return named[c] or string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

-- The JSON object of the fields in their order; absent fields are left out,
-- as JSON.stringify leaves out undefined.
function fingerprint.source(fields)
  local parts = {}
  for _, field in ipairs(fields) do
    if not is_null(field[2]) then parts[#parts + 1] = json_scalar(field[1]) .. ":" .. json_scalar(field[2]) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- sha256 hex of the fields.
function fingerprint.of(fields)
  return evkit.crypto.hex(evkit.crypto.sha256(fingerprint.source(fields)))
end

-- A record, or nil when the payload does not identify the entity (then no
-- echo check is possible for it).
function fingerprint.record(key_prefix, id, fields)
  if is_null(id) or id == "" or type(id) == "table" then return nil end
  return { key = fingerprint.sanitize_key(key_prefix .. tostring(id)), fields = fields }
end

-- Fingerprints are kept per direction: a change sent to Commerce can only
-- come back as a Commerce event, so it is stored as "<key>.commerce" and only
-- the Commerce consumers compare with it. (The kit keeps one "ilk_<sku>" for
-- both directions, so a second back-office update with the same description
-- within 60 s, a price change say, would be dropped as an echo.)
local function state_key(record, source) return record.key .. "." .. source end

-- True when there is at least one record and each matches the fingerprint
-- stored by the last propagation of that entity to source (the provider the
-- event comes from).
function fingerprint.is_echo(records, source)
  if not records or #records == 0 then return false end
  for _, record in ipairs(records) do
    if evkit.state.get(state_key(record, source)) ~= fingerprint.of(record.fields) then return false end
  end
  return true
end

-- After a successful propagation to target ("commerce" or "backoffice").
function fingerprint.remember(records, target)
  for _, record in ipairs(records or {}) do
    evkit.state.put(state_key(record, target), fingerprint.of(record.fields), { ttl = fingerprint.TTL_SECONDS })
  end
end

return fingerprint

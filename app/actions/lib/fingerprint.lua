-- Breaking infinite loops between the two systems.
--
-- When a handler propagates a change (say a back-office product update sent
-- to Commerce), the target system emits its own event for that change, which
-- would be propagated back, and so on forever. So after a successful
-- propagation the handler stores a fingerprint of the entity (sha256 of the
-- fields both systems carry) for 60 s, and a consumer that receives an event
-- whose entity has exactly that fingerprint answers success without handling
-- it: the event is the echo of our own change.
--
-- A record is {key = "<entity>.<id>", fields = {{name, value}, ...}}; entity
-- modules (entities/*.lua) build records from either system's payload so that
-- the same entity yields the same key and fingerprint on both sides.
local fingerprint = {}

fingerprint.TTL_SECONDS = 60

local function normalize(value)
  if value == nil or value == evkit.json.null then return "" end
  if type(value) == "boolean" then return value and "true" or "false" end
  if type(value) == "number" then
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then return string.format("%d", value) end
    return string.format("%.17g", value)
  end
  return tostring(value)
end

-- "12" and 12 are the same number to both systems (Commerce sends many
-- numbers as strings); entity modules pass such fields through this.
function fingerprint.number(value)
  return tonumber(value) or value
end

-- A record, or nil when the payload does not identify the entity (then no
-- echo check is possible for it).
function fingerprint.record(entity, id, fields)
  if id == nil or id == evkit.json.null or id == "" then return nil end
  return { key = entity .. "." .. normalize(id), fields = fields }
end

-- sha256 hex of the fields, in order.
function fingerprint.of(fields)
  local lines = {}
  for i, field in ipairs(fields) do lines[i] = field[1] .. "=" .. normalize(field[2]) end
  return evkit.crypto.hex(evkit.crypto.sha256(table.concat(lines, "\n")))
end

local function state_key(record) return "fp." .. record.key end

-- True when there is at least one record and each matches the fingerprint
-- stored by the last propagation of that entity.
function fingerprint.is_echo(records)
  if not records or #records == 0 then return false end
  for _, record in ipairs(records) do
    if evkit.state.get(state_key(record)) ~= fingerprint.of(record.fields) then return false end
  end
  return true
end

function fingerprint.remember(records)
  for _, record in ipairs(records or {}) do
    evkit.state.put(state_key(record), fingerprint.of(record.fields), { ttl = fingerprint.TTL_SECONDS })
  end
end

return fingerprint

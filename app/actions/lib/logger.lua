-- A named logger honouring the LOG_LEVEL input (debug, info, warn, error;
-- default info), like the starter kit's Core.Logger. Lines go to the
-- activation logs through evkit.log.
local RANK = { debug = 1, info = 2, warn = 3, error = 4 }

local logger = {}

-- A logger is a few closures: one per name and threshold is made, then reused
-- (an action makes one per request).
local made = {}

function logger.new(name, level)
  local threshold = RANK[string.lower(tostring(level or ""))] or RANK.info
  local key = name .. "\0" .. threshold
  if made[key] then return made[key] end
  local log = {}
  for lvl, rank in pairs(RANK) do
    log[lvl] = function(...)
      if rank < threshold then return end
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      evkit.log[lvl](name .. ": " .. table.concat(parts, "", 1, parts.n))
    end
  end
  made[key] = log
  return log
end

return logger

-- Wraps an action's main so that a Lua error becomes a 500 the caller can
-- retry (the starter kit's try/catch "Server error"), instead of a developer
-- error with no structured body.
local guard = {}

-- on_error(message) builds the response for the failure.
function guard.wrap(name, run, on_error)
  return function(params)
    local ok, result = pcall(run, params)
    if ok then return result end
    local message = "Server error: " .. tostring(result)
    evkit.log.error(name .. ": " .. message)
    return on_error(message)
  end
end

return guard

-- Runs after transformData and before sendData: the place for look-ups the
-- request depends on (for example mapping a back-office category to a
-- Commerce category id with evkit.http.request). What it returns reaches
-- sendData and postProcess as preProcessed. Other handlers can have a pre.lua
-- too: add `pre = require("pre")` to their index.lua.
local pre = {}

function pre.preProcess(params, transformed)
  return nil
end

return pre

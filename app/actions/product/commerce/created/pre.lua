-- preProcess(params, transformed) runs after transformData and before
-- sendData: the place for look-ups the request depends on (with
-- evkit.http.request or evkit.state). What it returns reaches sendData and
-- postProcess as preProcessed.
local pre = {}

function pre.preProcess(params, transformed)
  return nil
end

return pre

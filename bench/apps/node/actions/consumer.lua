-- bench/consumer-lua: invokes the handler synchronously, as the starter kit's
-- consumers do, and answers with the handler's statusCode.
function main(params)
  local result, err = evkit.invoke("bench/handler-lua", {
    data = params.data, type = params.type, id = params.id, source = params.source, time = params.time,
  })
  if not result then
    return { error = { statusCode = 500, body = { error = "Unable to invoke bench/handler-lua: " .. tostring(err) } } }
  end
  return { statusCode = result.statusCode or 200, body = { type = params.type, response = result.body } }
end

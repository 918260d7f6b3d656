-- bench/echo-lua: answers with the params it got.
function main(params)
  return { statusCode = 200, body = { echo = params } }
end

-- bench/consumer: takes the event (only reached by a filter that matches).
function main(params)
  return { statusCode = 200, body = { id = params.id } }
end

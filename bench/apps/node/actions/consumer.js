// bench/consumer-node: invokes bench/handler-node and waits for it, as the
// starter kit's consumers do through the openwhisk npm client (a blocking
// POST to the namespaces API with the activation's own key), here with
// Node's fetch so that the bench app needs no node_modules.
'use strict'

async function main (params) {
  const url = `${process.env.__OW_API_HOST}/api/v1/namespaces/_/actions/bench/handler-node?blocking=true`
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(process.env.__OW_API_KEY).toString('base64')}`,
      'content-type': 'application/json'
    },
    body: JSON.stringify({ data: params.data, type: params.type, id: params.id, source: params.source, time: params.time })
  })
  const record = await res.json()
  const result = record.response && record.response.result
  if (!res.ok || !result) {
    return { error: { statusCode: 500, body: { error: `Unable to invoke bench/handler-node: ${res.status}` } } }
  }
  return { statusCode: result.statusCode || 200, body: { type: params.type, response: result.body } }
}

exports.main = main

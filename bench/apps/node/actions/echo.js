// bench/echo-node and bench/cold-*: answers with the params it got.
'use strict'

exports.main = function main (params) {
  return { statusCode: 200, body: { echo: params } }
}

// bench/handler-node: trivial work.
'use strict'

exports.main = async function main (params) {
  const sku = params.data && params.data.sku
  return { statusCode: 200, body: { success: true, message: `handled ${sku}` } }
}

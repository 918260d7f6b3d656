// evkit's Node.js launcher: one warm process per slot of an action's pool,
// speaking the ActionLoop protocol of evkit's runtime: one JSON line per
// activation on stdin ({value, activation_id, action_name, deadline, api_key,
// namespace, api_host}), one JSON result line back on file descriptor 3.
// console.* and anything written to process.stdout/stderr become the
// activation's logs (pipes are synchronous on Linux, so they arrive before
// the result). A throw or a rejection is an application error, as on the
// hosted runtime.
//
//   node [--max-old-space-size=N] launcher.js <function file> [<main name>]
'use strict'

const fs = require('fs')
const path = require('path')
const readline = require('readline')
const { pathToFileURL } = require('url')

const RESULT_FD = 3
const INIT_FAILED = 70 // the exit status when the function file does not load
const file = path.resolve(process.argv[2] || '')
const mainName = process.argv[3] || 'main'

function isEsm (f) {
  if (f.endsWith('.mjs')) return true
  if (f.endsWith('.cjs')) return false
  // The nearest package.json decides for .js, as Node does.
  for (let dir = path.dirname(f); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json')
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module'
      } catch (e) {
        return false
      }
    }
    if (path.dirname(dir) === dir) return false
  }
}

function pickMain (mod) {
  if (!mod) return undefined
  if (typeof mod[mainName] === 'function') return mod[mainName]
  if (mod.default && typeof mod.default[mainName] === 'function') return mod.default[mainName]
  if (mainName === 'main' && typeof mod === 'function') return mod
  if (mainName === 'main' && typeof mod.default === 'function') return mod.default
  return undefined
}

async function load () {
  let mod
  if (isEsm(file)) {
    mod = await import(pathToFileURL(file).href)
  } else {
    try {
      mod = require(file)
    } catch (e) {
      if (e && e.code !== 'ERR_REQUIRE_ESM') throw e
      mod = await import(pathToFileURL(file).href)
    }
  }
  const fn = pickMain(mod)
  if (!fn) throw new Error(`${path.basename(file)} exports no function '${mainName}'`)
  return fn
}

// An Error becomes a plain object (JSON.stringify drops its fields).
function serializeError (e) {
  if (!(e instanceof Error)) return e === undefined ? 'undefined' : e
  const out = { name: e.name, message: e.message }
  for (const k of Object.keys(e)) out[k] = e[k]
  if (e.stack) out.stack = String(e.stack).split('\n').slice(0, 8).join('\n')
  return out
}

function answer (result) {
  let line
  try {
    line = JSON.stringify(result)
  } catch (e) {
    line = JSON.stringify({ error: `The action result cannot be encoded as JSON: ${e.message}` })
  }
  fs.writeSync(RESULT_FD, line + '\n')
}

function setActivationEnv (msg) {
  // OpenWhisk's convention: every field but value is __OW_<FIELD>.
  for (const [k, v] of Object.entries(msg)) {
    if (k === 'value' || v === undefined || v === null) continue
    process.env[`__OW_${k.toUpperCase()}`] = String(v)
  }
}

async function run (main, msg) {
  setActivationEnv(msg)
  let result
  try {
    result = await main(msg.value || {})
  } catch (e) {
    return { error: serializeError(e) }
  }
  if (result === undefined || result === null) return {}
  if (typeof result !== 'object' || Array.isArray(result)) {
    return { error: 'The action did not return a dictionary.' }
  }
  return result
}

async function serve () {
  let main
  try {
    main = await load()
  } catch (e) {
    // As OpenWhisk: a developer error. evkit reads this line in the logs of
    // the activation that finds the process ended, and starts a fresh one
    // for the next.
    console.error(`Initialization has failed due to: ${e && e.stack ? e.stack.split('\n').slice(0, 4).join('\n') : e}`)
    process.exit(INIT_FAILED)
  }
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
  // One activation at a time: the host sends the next line only after an answer.
  for await (const line of rl) {
    if (!line.trim()) continue
    let msg
    try {
      msg = JSON.parse(line)
    } catch (e) {
      answer({ error: 'evkit sent a line that is not JSON' })
      continue
    }
    answer(await run(main, msg))
  }
}

serve().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e))
  process.exit(1)
})

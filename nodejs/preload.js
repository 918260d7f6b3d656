// evkit's preload for Node.js actions and for `evkit exec` (node --require):
// the fixed Adobe hosts that the App Builder libraries call are served by
// evkit, so an app runs unchanged with no cloud account and nothing leaves
// the machine on their account.
//  - HTTPS requests to those hosts (IMS tokens, I/O Management API, events
//    ingress, the events' public keys) go to evkit over plain HTTP on
//    loopback, same method, headers and body, under the prefix below.
//  - @adobe/aio-lib-state's init() returns a store kept in evkit's state
//    store (its hosted backend is a token vending service plus a cloud
//    database; evkit's is its own journal), with the same get/put/delete.
// Every other host is left alone: a request goes where the action sends it.
//
// EVKIT_ADOBE_ENDPOINT (default: __OW_API_HOST) is evkit's base URL;
// EVKIT_STATE_KEY (default: __OW_API_KEY) authorizes the state calls.
'use strict'

const http = require('http')
const https = require('https')
const Module = require('module')

const ROUTES = {
  'ims-na1.adobelogin.com': '',
  'ims-na1-stg1.adobelogin.com': '',
  'api.adobe.io': '',
  'api-stage.adobe.io': '',
  'eventsingress.adobe.io': '/eventsingress',
  'eventsingress-stage.adobe.io': '/eventsingress',
  'static.adobeioevents.com': '/adobeioevents'
}

function endpoint () {
  const base = process.env.EVKIT_ADOBE_ENDPOINT || process.env.__OW_API_HOST
  if (!base) return null
  try {
    const u = new URL(base)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null
  } catch (e) {
    return null
  }
}

// (url | options, [options], [callback]) as http.request takes them, made one options object.
function normalize (args) {
  let [a, b, c] = args
  let options = {}
  if (typeof a === 'string' || a instanceof URL) {
    const u = typeof a === 'string' ? new URL(a) : a
    options = {
      protocol: u.protocol,
      hostname: u.hostname,
      port: u.port,
      path: u.pathname + u.search
    }
    if (typeof b === 'function') {
      c = b
      b = undefined
    }
    if (b) options = { ...options, ...b }
  } else {
    options = { ...(a || {}) }
    if (typeof b === 'function') c = b
  }
  return { options, callback: c }
}

function routedHost (options) {
  const host = String(options.hostname || options.host || '').replace(/:\d+$/, '').toLowerCase()
  return Object.prototype.hasOwnProperty.call(ROUTES, host) ? host : null
}

function reroute (options, host, base) {
  const headers = { ...(options.headers || {}) }
  for (const k of Object.keys(headers)) if (k.toLowerCase() === 'host') delete headers[k]
  headers['x-evkit-adobe-host'] = host
  const prefix = base.pathname.replace(/\/$/, '') + ROUTES[host]
  const out = {
    ...options,
    protocol: base.protocol,
    hostname: base.hostname,
    host: undefined,
    port: base.port || (base.protocol === 'https:' ? 443 : 80),
    path: prefix + (options.path || '/'),
    headers,
    agent: undefined, // an https agent cannot carry plain HTTP
    servername: undefined
  }
  return out
}

function wrap (mod, original) {
  return function request (...args) {
    const { options, callback } = normalize(args)
    const host = routedHost(options)
    const base = host && endpoint()
    if (!base) return original.apply(mod, args)
    const target = base.protocol === 'https:' ? https : http
    const fn = target === mod ? original : target.request
    return fn.call(target, reroute(options, host, base), callback)
  }
}

const httpsRequest = https.request
const httpRequest = http.request
https.request = wrap(https, httpsRequest)
http.request = wrap(http, httpRequest)
https.get = function get (...args) {
  const req = https.request(...args)
  req.end()
  return req
}
http.get = function get (...args) {
  const req = http.request(...args)
  req.end()
  return req
}

// Node's own fetch (undici) does not go through http.request.
if (typeof globalThis.fetch === 'function') {
  const originalFetch = globalThis.fetch
  globalThis.fetch = function fetch (input, init) {
    const url = typeof input === 'string' || input instanceof URL ? new URL(String(input)) : null
    const host = url && Object.prototype.hasOwnProperty.call(ROUTES, url.hostname.toLowerCase()) ? url.hostname.toLowerCase() : null
    const base = host && endpoint()
    if (!base) return originalFetch.call(this, input, init)
    const to = new URL(base.href)
    to.pathname = base.pathname.replace(/\/$/, '') + ROUTES[host] + url.pathname
    to.search = url.search
    const headers = new Headers((init && init.headers) || {})
    headers.set('x-evkit-adobe-host', host)
    return originalFetch.call(this, to, { ...(init || {}), headers })
  }
}

// ---- @adobe/aio-lib-state, kept in evkit ----

function stateCall (method, key, body) {
  const base = endpoint()
  if (!base) return Promise.reject(new Error('evkit state: no EVKIT_ADOBE_ENDPOINT or __OW_API_HOST'))
  const token = process.env.EVKIT_STATE_KEY || process.env.__OW_API_KEY || ''
  const ns = process.env.__OW_NAMESPACE || '_'
  const path = `${base.pathname.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(ns)}/state/` +
    (key === undefined ? '' : encodeURIComponent(key))
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const target = base.protocol === 'https:' ? https : http
  const original = base.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = original.call(target, {
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port,
      method,
      path,
      headers: {
        authorization: `Basic ${Buffer.from(token).toString('base64')}`,
        ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {})
      }
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json
        try {
          json = text ? JSON.parse(text) : undefined
        } catch (e) {
          json = undefined
        }
        if (res.statusCode === 404) return resolve(undefined)
        if (res.statusCode >= 400) {
          return reject(new Error(`evkit state ${method}: ${res.statusCode} ${(json && json.error) || text}`))
        }
        resolve(json)
      })
    })
    req.on('error', reject)
    if (data) req.write(data)
    req.end()
  })
}

function checkKey (key) {
  if (typeof key !== 'string' || key === '') throw new Error('[StateLib:ERROR_BAD_ARGUMENT] key must be a non-empty string')
}

// The API of aio-lib-state's StateStore: get, put (ttl in seconds, default
// one day, -1 for none), delete, deleteAll, any.
class EvkitStateStore {
  async get (key) {
    checkKey(key)
    const r = await stateCall('GET', key)
    return r === undefined ? undefined : { value: r.value, expiration: r.expiration || null }
  }

  async put (key, value, options = {}) {
    checkKey(key)
    const ttl = options.ttl === undefined ? 86400 : options.ttl
    await stateCall('PUT', key, { value, ttl })
    return key
  }

  async delete (key) {
    checkKey(key)
    await stateCall('DELETE', key)
    return key
  }

  async deleteAll () {
    await stateCall('DELETE', undefined)
    return true
  }

  async any () {
    const r = await stateCall('GET', undefined)
    return Boolean(r && r.count > 0)
  }
}

const originalLoad = Module._load
Module._load = function load (request, parent, isMain) {
  const mod = originalLoad.apply(this, arguments)
  if (request === '@adobe/aio-lib-state' && mod && typeof mod.init === 'function' && !mod.__evkit) {
    return { ...mod, __evkit: true, init: async () => new EvkitStateStore() }
  }
  return mod
}

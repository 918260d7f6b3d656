-- Authentication of the ingestion webhook (starter kit:
-- actions/ingestion/webhook/auth.js). Like the starter kit it lets every
-- request through by default. Two ready checks switch on with .env:
--
--   INGESTION_WEBHOOK_TOKEN=<token>      the request must carry the token in
--   INGESTION_WEBHOOK_TOKEN_HEADER=<h>   header h (default x-webhook-token)
--
--   INGESTION_WEBHOOK_SECRET=whsec_...   the request must be signed as
--                                        Standard Webhooks specify
--
-- With both set, both must pass. Replace or extend checkAuthentication for
-- anything else; params holds the action inputs and __ow_headers (lower-case
-- names). Answer {success = false, message = ...} to reject with HTTP 401.
local shared_token = require("shared_token")
local standard_webhooks = require("standard_webhooks")

local auth = {}

local function configured(value) return type(value) == "string" and value ~= "" end

function auth.checkAuthentication(params)
  local headers = type(params.__ow_headers) == "table" and params.__ow_headers or {}

  if configured(params.WEBHOOK_TOKEN) then
    local ok, why = shared_token.verify(params.WEBHOOK_TOKEN, params.WEBHOOK_TOKEN_HEADER, headers)
    if not ok then return { success = false, message = why } end
  end

  if configured(params.WEBHOOK_SECRET) then
    local ok, why = standard_webhooks.verify(params.WEBHOOK_SECRET, headers, params.__ow_raw_body, os.time())
    if not ok then return { success = false, message = why } end
  end

  return { success = true }
end

return auth

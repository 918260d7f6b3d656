-- The back office's API, which the Commerce-to-back-office handlers call
-- (the starter kit leaves these senders for the integrator to write). Each
-- handler sends its transformed entity to BACKOFFICE_BASE_URL .. path with
-- POST (created), PUT (updated) or DELETE (deleted), authenticated with
-- "Authorization: Bearer <BACKOFFICE_API_KEY>" when that is set. Change the
-- paths in the handlers' sender.lua, the headers here.
local outbound = require("outbound")
local url = require("url")

local backoffice = {}

-- Returns an outcome (outbound.lua), or the dry-run outcome while
-- BACKOFFICE_BASE_URL is empty.
function backoffice.request(params, method, path, body)
  local request = method .. " " .. path
  local encoded = body ~= nil and evkit.json.encode(body) or nil
  if not outbound.is_set(params, "BACKOFFICE_BASE_URL") then
    return outbound.dry_run(params, "BACKOFFICE_BASE_URL", request, encoded)
  end
  local headers = {}
  if outbound.is_set(params, "BACKOFFICE_API_KEY") then headers.authorization = "Bearer " .. params.BACKOFFICE_API_KEY end
  return outbound.http(params, {
    label = "Back office", request = request, method = method,
    url = url.join(params.BACKOFFICE_BASE_URL, path), headers = headers, body = encoded,
  })
end

return backoffice

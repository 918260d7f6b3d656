-- Checks params.data against schema.json (schema.lua is generated from it by
-- scripts/gen-events-lua.py) and says which field is missing or of the wrong
-- type. Business rules go here too: wrap validateData and return
-- {success = false, message = ...} to reject the event (HTTP 400, final).
return require("schema_validator").validator(require("schema"))

-- validateData(params): params.data against schema.json next to this file
-- (require("schema") decodes it), naming each failing field.
-- Business rules go here too: wrap validateData and return
-- {success = false, message = ...} to reject the event (HTTP 400, final).
return require("validation").validator(require("schema"))

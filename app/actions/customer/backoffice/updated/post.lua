-- postProcess(params, transformed, preProcessed, outcome) runs after a
-- successful sendData (not on dry runs), with the other system's answer in
-- outcome.body: the place to store a cross-reference or notify someone.
local post = {}

function post.postProcess(params, transformed, preProcessed, outcome)
end

return post

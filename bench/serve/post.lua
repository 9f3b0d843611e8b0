-- wrk script: POST the body in $BODY_FILE to the request path, as FHIR JSON. Each request
-- gets a fresh X-Request-ID, and every "__N__" in the body becomes a per-request number
-- (so message identifiers and conditional keys differ).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local template = f:read("*a")
f:close()
local counter = 0
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
request = function()
  counter = counter + 1
  local n = tostring(tid or 0) .. "-" .. tostring(counter)
  local body = string.gsub(template, "__N__", n)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/fhir+json",
    ["X-Request-ID"] = "bench-" .. n,
  }, body)
end

-- Shared constants (the starter kit's actions/constants.js).
return {
  HTTP_OK = 200,
  HTTP_BAD_REQUEST = 400,
  HTTP_UNAUTHORIZED = 401,
  HTTP_NOT_FOUND = 404,
  HTTP_INTERNAL_ERROR = 500,
  HTTP_SERVICE_UNAVAILABLE = 503,

  -- Provider keys of onboarding/config/providers.json.
  COMMERCE_PROVIDER_KEY = "commerce",
  BACKOFFICE_PROVIDER_KEY = "backoffice",
}

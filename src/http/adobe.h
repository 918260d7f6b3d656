/* adobe: the Adobe service APIs evkit serves itself, so an App Builder app
 * whose libraries call fixed Adobe hosts (rerouted to evkit by
 * nodejs/preload.js) runs unchanged. The IMS token endpoint is in ims.h.
 *
 * io_api.c, the I/O Management API subset the commerce starter kit uses
 * (arg[0..2] consumer org, project, workspace where the path has them):
 * providers (the app's, from providers.json, and run-time ones),
 * their event metadata, and registrations, which become run-time
 * registrations of the registry. Errors answer {"reason", "message"}. */
#ifndef EVKIT_HTTP_ADOBE_H
#define EVKIT_HTTP_ADOBE_H

#include "http/api.h"

/* GET /events/<co>/providers; GET /events/providers/<id>. */
api_handler_fn io_providers_list, io_provider_get;
/* POST /events/<co>/<project>/<workspace>/providers. */
api_handler_fn io_provider_create;
/* POST /events/<co>/<p>/<w>/providers/<id>/eventmetadata (arg[3] the id);
 * GET /events/providers/<id>/eventmetadata (arg[0]). */
api_handler_fn io_metadata_create, io_metadata_list;
/* POST|GET /events/<co>/<p>/<w>/registrations (?page=N&size=M). */
api_handler_fn io_reg_create, io_reg_list;

/* POST /eventsingress/ (ingress.c): a CloudEvent as @adobe/aio-lib-events
 * publishEvent sends it, journaled and delivered as the publishing API
 * does; 200 "OK" when a registration takes it, 204 when none does. */
api_handler_fn io_ingress;

/* /api/v1/namespaces/<ns>/state/<key> (state_api.c): the state store of
 * @adobe/aio-lib-state as nodejs/preload.js calls it. GET answers
 * {value, expiration} (ISO time or null; 404 when absent), PUT takes
 * {value, ttl} (seconds, default 86400, negative: no expiry), DELETE; on
 * the collection (arg[1] empty) GET answers {count} and DELETE clears. */
api_handler_fn state_api_get, state_api_put, state_api_delete;

#endif

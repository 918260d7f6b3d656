/* status: what the status of a delivery attempt means. One table for the
 * statuses a target answers (2xx success; 429 and 5xx but 505 retried;
 * the rest final) and the hosted service's own codes for an attempt that
 * got no answer, which are retried. Actions and webhooks share it. */
#ifndef EVKIT_DELIVERY_STATUS_H
#define EVKIT_DELIVERY_STATUS_H

/* VERDICT_UNDELIVERABLE: the event itself can never reach the target (no
 * retry can help, and the target is not to blame). */
typedef enum {
    VERDICT_SUCCESS,
    VERDICT_RETRY,
    VERDICT_FINAL,
    VERDICT_UNDELIVERABLE
} delivery_verdict;

/* No answer (601 and up). */
#define DELIVERY_STATUS_UNEXPECTED 601  /* the target crashed or failed unexpectedly */
#define DELIVERY_STATUS_CONNECT    602  /* it could not be reached (or its process not started) */
#define DELIVERY_STATUS_TIMEOUT    604  /* it did not answer within its time limit */
#define DELIVERY_STATUS_TLS        611  /* the TLS handshake or certificate check failed */

/* Recorded for answers that carry no status of their own. */
#define DELIVERY_STATUS_OK              200  /* a result without statusCode */
#define DELIVERY_STATUS_APP_ERROR       500  /* an error without statusCode */
#define DELIVERY_STATUS_NO_REGISTRATION 404  /* the registration went away before the attempt */
#define DELIVERY_STATUS_UNDELIVERABLE   422  /* the event cannot be handed to the target at all */

/* Classifies the status of an attempt: 2xx success; 429, 5xx except 505
 * and no answer (601 and up: timeout, connection, TLS) retried; everything
 * else (other 4xx, 3xx, 505) final. */
delivery_verdict delivery_classify_status(int code);

#endif

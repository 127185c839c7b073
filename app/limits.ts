// Limits every layer shares, defined once (bottom layer: imports nothing from app/).

/** Ids (player, challenge, goal, stat code, event id, Idempotency-Key, request id) are stored in
 *  varchar(128) columns; UTF-16 length is never below the code point count. */
export const MAX_ID_LENGTH = 128;

/** Default request body limits (config MAX_BODY_BYTES / MAX_EVENTS_BODY_BYTES override them). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_EVENTS_BODY_BYTES = 4 * 1024 * 1024;

/** Events one POST /v1/events may carry. */
export const MAX_EVENTS_PER_REQUEST = 1000;

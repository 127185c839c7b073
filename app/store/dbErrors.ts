// The one classifier of database errors, used by the api (answer 503 + Retry-After, or 500) and the
// worker (retry the batch in place, or poison the entry). Choice: a statement timeout (57014) and the
// other SQLSTATE classes below are retryable for both: the api answers 503 DATABASE_UNAVAILABLE
// with Retry-After, the worker retries. They differ only on errors without a SQLSTATE that are not
// network errors (a bug or a client-side failure): the api answers 500, the worker retries (the
// entries stay pending rather than being poisoned by a fault of ours).

/** SQLSTATE classes worth retrying: connection, rollback (serialization, deadlock), resources,
 *  object state (lock not available), operator intervention (statement timeout, shutdown), system. */
const RETRYABLE_CLASSES = new Set(['08', '40', '53', '55', '57', '58', 'XX']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
const NETWORK_MESSAGE = /timeout exceeded when trying to connect|Connection terminated|Query read timeout/i;

export type DbErrorKind = 'retryable' | 'permanent' | 'unknown';

export function dbErrorKind(e: unknown): DbErrorKind {
  // No instanceof: errors from node's net layer may come from another realm (e.g. under jest).
  if (typeof e !== 'object' || e === null) return 'unknown';
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return 'retryable';
    if (/^[0-9A-Z]{5}$/.test(code))
      return RETRYABLE_CLASSES.has(code.slice(0, 2)) ? 'retryable' : 'permanent';
  }
  if (typeof message === 'string' && NETWORK_MESSAGE.test(message)) return 'retryable';
  return 'unknown';
}

/** The api's question: answer 503 with Retry-After (the request may succeed on retry) rather than 500. */
export function isDatabaseUnavailable(e: unknown): boolean {
  return dbErrorKind(e) === 'retryable';
}

/** The worker's question: retry in place (everything but a definite data/SQL error). */
export function isTransientDbError(e: unknown): boolean {
  return dbErrorKind(e) !== 'permanent';
}

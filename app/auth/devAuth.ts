// The reference's development auth: with its auth disabled, a request acts as the player named in
// the X-Mock-User-Id header, so its own k6 scripts and smoke clients (which send that header next
// to a placeholder bearer token) run unchanged. Here that needs DEV_MODE=1 and
// DEV_MOCK_USER_HEADER=1 both (config refuses the second without the first; the chart sets neither).
// Kept apart from auth.ts: this only decides which credential a request's player comes from.
import type { Authenticator } from './auth';
import { unauthorized } from '../errors';
import { orThrow, parseId } from '../schemas/requests';

export const MOCK_USER_HEADER = 'x-mock-user-id';

export interface PlayerHeaders {
  readonly authorization?: string;
  readonly [MOCK_USER_HEADER]?: string;
}

/** How player routes find their player: the bearer token, or the mock header when it is switched on. */
export function playerResolver(
  auth: Authenticator,
  mockHeader: boolean,
): (headers: Readonly<Record<string, string | undefined>>) => Promise<string> {
  if (!mockHeader) {
    return (h) => {
      if (h[MOCK_USER_HEADER] !== undefined && !h.authorization) {
        return Promise.reject(
          unauthorized(
            'missing bearer token (X-Mock-User-Id is honoured only with DEV_MODE=1 and DEV_MOCK_USER_HEADER=1)',
          ),
        );
      }
      return auth.player(h.authorization);
    };
  }
  return async (h) => {
    const mock = h[MOCK_USER_HEADER];
    if (mock === undefined) {
      if (!h.authorization)
        throw unauthorized('missing bearer token or X-Mock-User-Id header (DEV_MOCK_USER_HEADER is on)');
      return auth.player(h.authorization);
    }
    // The header wins over any token, as in the reference with auth disabled.
    return orThrow(parseId(mock.trim(), 'X-Mock-User-Id'));
  };
}

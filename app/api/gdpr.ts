// DELETE {base}/v1/users/me/data on the player port: the HTTP side of app/gdpr's eraser.
import { ApiError, tooManyRequests } from '../errors';
import { GdprEraser, SELF_DELETE_INTERVAL_MS, storeUnavailable, type GdprDeps } from '../gdpr';
import { json, type Ctx, type HttpServer } from './http';

export interface GdprRouteDeps extends GdprDeps {
  basePath: string;
  /** How player routes resolve the player (bearer token, or the dev mock header). */
  player: (ctx: Ctx) => Promise<string>;
}

/** DELETE {base}/v1/users/me/data on the player port. */
export function registerGdprRoutes(http: HttpServer, eraser: GdprEraser, deps: GdprRouteDeps): void {
  http.route('del', `${deps.basePath}/v1/users/me/data`, 'delete_my_data', async (ctx) => {
    const userId = await deps.player(ctx);
    let booked: boolean;
    try {
      booked = await eraser.takeSelfDeleteSlot(userId);
    } catch {
      throw storeUnavailable();
    }
    if (!booked) {
      throw tooManyRequests('data deletion can be requested once a minute', SELF_DELETE_INTERVAL_MS / 1000, {
        limit: 'gdpr_delete',
      });
    }
    try {
      return json(200, await eraser.erase(userId, 'player'));
    } catch (err) {
      await eraser.releaseSelfDeleteSlot(userId).catch(() => undefined);
      if (err instanceof ApiError) throw err;
      deps.log.warn({ err }, 'player data erasure failed');
      throw storeUnavailable();
    }
  });
}

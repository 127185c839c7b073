// The optional modules each role loads (events, rewards relay, websocket, admin, ...).
import type { ModuleFactory } from './runtime';

export function serviceModules(): ModuleFactory[] {
  return [];
}

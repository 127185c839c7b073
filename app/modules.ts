// The optional modules each role loads (events, rewards relay, websocket, admin, ...).
import { catalogModule } from './catalog/watch';
import { eventsModule } from './events/module';
import { rewardsModule } from './rewards/module';
import type { ModuleFactory } from './runtime';

export function serviceModules(): ModuleFactory[] {
  return [catalogModule, rewardsModule, eventsModule(undefined, { grpc: true })];
}

// Token verification lives in app/auth (below the api, used by the ops-port routers and the gRPC ingest too).
export * from '../auth/auth';

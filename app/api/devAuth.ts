// The dev mock-user header lives in app/auth.
export * from '../auth/devAuth';

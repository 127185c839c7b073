// The api's view of the error vocabulary: the table (and `fromDomain`, the mapping of domain rule
// violations) lives in app/errors.ts, the bottom layer; the database-error classifier in the store.
export * from '../errors';
export { isDatabaseUnavailable } from '../store/dbErrors';

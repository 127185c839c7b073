// The api's view of the error vocabulary: the table lives in app/errors.ts (bottom layer); this
// module adds the mapping of domain rule violations (their ids are codes of the same table).
import type { DomainError } from '../domain/rules';
import { apiError, type ApiError } from '../errors';

export * from '../errors';
export { isDatabaseUnavailable } from '../store/dbErrors';

export function fromDomain(e: DomainError): ApiError {
  return apiError(e.error, e.message, e.details);
}

// One classifier of database errors for the api (503 vs 500) and the worker (retry vs poison).
import { dbErrorKind, isDatabaseUnavailable, isTransientDbError } from '../../app/store/dbErrors';

const pgError = (code: string) => Object.assign(new Error('x'), { code });

describe('database error classifier (app/store/dbErrors.ts)', () => {
  test('a statement timeout (57014) is retryable for both: api answers 503, worker retries', () => {
    expect(dbErrorKind(pgError('57014'))).toBe('retryable');
    expect(isDatabaseUnavailable(pgError('57014'))).toBe(true);
    expect(isTransientDbError(pgError('57014'))).toBe(true);
  });

  test('connection, shutdown, deadlock, serialization, too many connections and network errors are retryable', () => {
    for (const code of ['08006', '57P01', '40P01', '40001', '53300', 'ECONNREFUSED', 'EPIPE']) {
      expect([code, dbErrorKind(pgError(code))]).toEqual([code, 'retryable']);
    }
    expect(dbErrorKind(new Error('timeout exceeded when trying to connect'))).toBe('retryable');
  });

  test('data and SQL errors are permanent for both', () => {
    for (const code of ['22003', '23505', '42601', '22P02']) {
      expect(isDatabaseUnavailable(pgError(code))).toBe(false);
      expect(isTransientDbError(pgError(code))).toBe(false);
    }
  });

  test('an error without SQLSTATE that is not a network error: api answers 500, worker retries', () => {
    const bug = new Error('secret internal detail');
    expect(dbErrorKind(bug)).toBe('unknown');
    expect(isDatabaseUnavailable(bug)).toBe(false);
    expect(isTransientDbError(bug)).toBe(true);
  });
});

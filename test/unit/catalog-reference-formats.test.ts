// The reference's three catalogs (read from ../shared/fixtures, never copied) load as they are: the
// current camelCase format with M5 rotation fields and progressMode, the legacy snake_case load-test
// catalog, and the 500-goal all-default load-test catalog.
import path from 'node:path';
import { loadCatalogFile } from '../../app/catalog/load';

const FIXTURES_DIR = process.env.FIXTURES_DIR ?? path.resolve(__dirname, '../../../shared/fixtures');
const load = (f: string) => loadCatalogFile(path.join(FIXTURES_DIR, f));

describe('reference catalog formats', () => {
  test('anchor-challenges.json: daily, weekly and monthly rotation, resetProgress/allowReselection, progressMode', () => {
    const c = load('anchor-challenges.json');
    const byId = (id: string) => c.goalById.get(id)!;
    expect(byId('daily-wins-no-reselect').rotation).toEqual({
      enabled: true,
      type: 'global',
      schedule: 'daily',
      onExpiry: { resetProgress: true, allowReselection: false },
    });
    expect(byId('weekly-wins-no-reset').rotation?.onExpiry).toEqual({
      resetProgress: false,
      allowReselection: false,
    });
    expect(byId('monthly-kills-goal').rotation?.schedule).toBe('monthly');
    expect(byId('daily-login-rotation')).toMatchObject({ eventSource: 'login', defaultAssigned: true });
    expect(byId('daily-login-rotation').requirement.progressMode).toBe('relative');
    expect(byId('kill-10-snowmen').requirement.progressMode).toBe('absolute');
    expect(byId('kill-10-snowmen').rotation).toBeUndefined();
    const schedules = new Set(
      [...c.goalById.values()].flatMap((g) => (g.rotation ? [g.rotation.schedule] : [])),
    );
    expect([...schedules].sort()).toEqual(['daily', 'monthly', 'weekly']);
  });

  test('anchor-loadtest-challenges.json (legacy snake_case): 500 goals, absolute, every goal default-assigned', () => {
    const c = load('anchor-loadtest-challenges.json');
    expect(c.goalById.size).toBe(500);
    expect(c.defaultGoals).toHaveLength(500);
    expect([...c.goalById.values()].every((g) => g.requirement.progressMode === 'absolute')).toBe(true);
    expect(c.goalById.get('challenge-001-goal-01')!.requirement.statCode).toBe('login_count');
  });

  test('anchor-loadtest-500-default.json: 10 challenges x 50 default goals, same goals as the legacy file', () => {
    const c = load('anchor-loadtest-500-default.json');
    expect(c.challenges).toHaveLength(10);
    expect(c.defaultGoals).toHaveLength(500);
    const legacy = load('anchor-loadtest-challenges.json');
    for (const [id, g] of c.goalById) expect(g).toEqual(legacy.goalById.get(id));
    expect(c.loginStats).toEqual(expect.arrayContaining(['login_count']));
  });
});

import { startTestService, type TestService } from '../helpers/service';

describe('service on real PostgreSQL through PgBouncer', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t.stop());

  test('initialize twice -> same goals, second reports no new assignments', async () => {
    const first = await t.call('smoke-1', 'POST', '/v1/challenges/initialize');
    expect(first.status).toBe(200);
    expect(first.body.newAssignments).toBeGreaterThan(0);
    const second = await t.call('smoke-1', 'POST', '/v1/challenges/initialize');
    expect(second.status).toBe(200);
    expect(second.body.newAssignments).toBe(0);
    expect(second.body.assignedGoals.map((g: { goalId: string }) => g.goalId)).toEqual(
      first.body.assignedGoals.map((g: { goalId: string }) => g.goalId),
    );
  });
});

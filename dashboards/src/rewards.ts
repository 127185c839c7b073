import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { Board, NS } from './panels';

export function rewardsDashboard(): Dashboard {
  const b = new Board(
    'challenge-rewards',
    'Challenge service / Rewards',
    'Claims, reward grants (in the claim request or relayed from the outbox) and the outbox backlog.',
  );
  b.row('Claims and grants')
    .timeseries(
      'Claims by result',
      [
        {
          expr: `sum by (result) (rate(challenge_claims_total{${NS}}[$__rate_interval]))`,
          legend: '{{result}}',
        },
      ],
      { unit: 'ops', stack: true },
    )
    .timeseries(
      'Rewards granted by path',
      [
        {
          expr: `sum by (path) (rate(challenge_rewards_granted_total{${NS}}[$__rate_interval]))`,
          legend: '{{path}}',
        },
      ],
      { unit: 'ops', stack: true },
    )
    .timeseries(
      'Grant failures by kind',
      [
        {
          expr: `sum by (kind) (rate(challenge_reward_grant_failures_total{${NS}}[$__rate_interval]))`,
          legend: '{{kind}}',
        },
      ],
      { unit: 'ops', description: 'Permanent failures dead-letter the outbox entry.' },
    );
  b.row('Outbox')
    .timeseries(
      'Outbox pending',
      [{ expr: `max(challenge_reward_outbox_pending{${NS}})`, legend: 'pending' }],
      {},
    )
    .timeseries('Outbox dead', [{ expr: `max(challenge_reward_outbox_dead{${NS}})`, legend: 'dead' }], {
      redAbove: 1,
      description: 'Entries the relay gave up on; every one is a player without a reward.',
    })
    .timeseries(
      'Oldest pending entry age',
      [{ expr: `max(challenge_reward_outbox_oldest_pending_seconds{${NS}})`, legend: 'age' }],
      { unit: 's' },
    );
  return b.build();
}

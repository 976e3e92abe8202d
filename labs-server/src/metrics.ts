/**
 * Prometheus metrics on `/metrics`: sessions, terminals, checks and their
 * latency, and how long sandboxes take to provision. One registry per server
 * instance, so tests can run several servers in one process.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cdl_process_' });
  return {
    registry,
    sessionsCreated: new Counter({ name: 'cdl_sessions_created_total', help: 'Sessions created', registers: [registry] }),
    sessionsActive: new Gauge({ name: 'cdl_sessions', help: 'Sessions that exist in the cluster, as last counted', registers: [registry] }),
    terminalsOpen: new Gauge({ name: 'cdl_terminals_open', help: 'Terminals (shells) alive on this server', registers: [registry] }),
    terminalsAttached: new Gauge({ name: 'cdl_terminals_attached', help: 'Terminals with a browser attached', registers: [registry] }),
    checksRun: new Counter({
      name: 'cdl_checks_total',
      help: 'Checks run, by lab and outcome',
      labelNames: ['lab', 'outcome'] as const,
      registers: [registry],
    }),
    checkSeconds: new Histogram({
      name: 'cdl_check_duration_seconds',
      help: 'Time to run a check',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    sandboxSeconds: new Histogram({
      name: 'cdl_sandbox_provision_seconds',
      help: 'Time to provision a sandbox and apply its lab setup',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Test the restore: ledger back from the newest backup taken before the last
 * write (its ConfigMap data, image and Service as that backup has them), and
 * a report whose figures the objects bear out. RPO is fixed by the evidence
 * (the backup's taken-at, the incident's last-write-at). The restore time is
 * measured on the cluster's clock, from the first restored object's creation
 * to ledger being available, so any honest report (and the solution, applied
 * whenever) states it: a whole number of minutes, rounded down or up.
 */

import type { V1ConfigMap, V1Deployment, V1Service } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { rolledOut } from '../cluster/src/kube.ts';
import { type CheckContext, criterion, defineCheck, missing, passed, shaped } from './lib/check.ts';
import { awaitRollout } from './lib/workloads.ts';

const TAKEN_AT = 'backup.containerdaylabs.dev/taken-at';

interface Backup {
  name: string;
  takenAt: Date;
  config: Record<string, string>;
  image: string | undefined;
  service: V1Service | undefined;
}

function parseBackup(map: V1ConfigMap): Backup {
  const docs = parseAllDocuments(map.data?.['objects.yaml'] ?? '').map(
    (d) => d.toJS() as { kind?: string; data?: Record<string, string> } & V1Deployment & V1Service,
  );
  return {
    name: map.metadata?.name ?? '',
    takenAt: new Date(map.metadata?.annotations?.[TAKEN_AT] ?? 0),
    config: docs.find((d) => d.kind === 'ConfigMap')?.data ?? {},
    image: docs.find((d) => d.kind === 'Deployment')?.spec?.template?.spec?.containers[0]?.image,
    service: docs.find((d) => d.kind === 'Service'),
  };
}

/** The incident, and the backups from newest to oldest, of those taken before the last write. */
async function evidence(ctx: CheckContext) {
  const [incident, maps] = await Promise.all([
    ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'incident', ctx.ns()),
    ctx.list<V1ConfigMap>('v1', 'ConfigMap', ctx.ns(), 'backup-of=ledger'),
  ]);
  const lastWrite = new Date(incident?.data?.['last-write-at'] ?? 0);
  const backups = maps
    .map(parseBackup)
    .filter((b) => b.takenAt <= lastWrite)
    .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  return { incident, lastWrite, backups };
}

const minutes = (ms: number) => Math.round(ms / 60_000);
const time = (stamp: Date | string | undefined) => (stamp ? new Date(stamp).getTime() : Number.NaN);

/** What a Service routes: its selector and its ports' numbers, the parts a restore must bring back. */
function routing(service: V1Service | undefined) {
  return {
    selector: service?.spec?.selector ?? {},
    ports: (service?.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

export default defineCheck({
  lab: 'test-the-restore',
  steps: {
    async restore(ctx) {
      const [{ backups }, config, ledger, service] = await Promise.all([
        evidence(ctx),
        ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'ledger-config', ctx.ns()),
        awaitRollout(ctx, 'ledger'),
        ctx.get<V1Service>('v1', 'Service', 'ledger', ctx.ns()),
      ]);
      const newest = backups[0];
      if (!newest) return [missing('restored', 'A backup of ledger', 'Reset the lab: its backups are gone.')];
      const absent = [config ? '' : 'ConfigMap ledger-config', ledger ? '' : 'Deployment ledger', service ? '' : 'Service ledger'].filter(
        Boolean,
      );
      if (absent.length > 0) {
        return [
          missing(
            'restored',
            `The ${absent.join(', the ')}`,
            '`kubectl get configmaps -l backup-of=ledger` lists the backups; each holds the objects in objects.yaml.',
          ),
        ];
      }
      const image = ledger?.spec?.template.spec?.containers[0]?.image;
      const liveConfig = config?.data ?? {};
      const from = backups.find((b) => b.image === image && Object.entries(b.config).every(([k, v]) => liveConfig[k] === v));
      const older = from && from !== newest ? from : undefined;
      const result = shaped(
        'newest-backup',
        { data: newest.config, image: newest.image, service: routing(newest.service) },
        { data: liveConfig, image, service: routing(service) },
        {
          pass: `ledger is back as it was in ${newest.name}.`,
          fail: older
            ? `ledger was restored from an older backup, ${older.name} (taken ${older.takenAt.toISOString()}); ${newest.name} is newer, so more writes were lost than needed.`
            : `ledger does not match the newest backup, ${newest.name}.`,
          hint: 'Compare the taken-at annotations of the backups.',
        },
      );
      return [
        passed('restored', 'The ConfigMap, Deployment and Service of ledger exist again.'),
        result,
        criterion('available', rolledOut(ledger), {
          pass: 'ledger is rolled out and available.',
          fail: 'The Deployment ledger is not available yet.',
          hint: '`kubectl rollout status deployment/ledger`',
        }),
      ];
    },
    async report(ctx) {
      const [{ lastWrite, backups }, report, ledger, config, service] = await Promise.all([
        evidence(ctx),
        ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'restore-report', ctx.ns()),
        // A restore just applied is waited for (bounded): its Available time is half the figure.
        awaitRollout(ctx, 'ledger'),
        ctx.get<V1ConfigMap>('v1', 'ConfigMap', 'ledger-config', ctx.ns()),
        ctx.get<V1Service>('v1', 'Service', 'ledger', ctx.ns()),
      ]);
      if (!report) return [missing('source', 'The ConfigMap restore-report', '`kubectl create configmap restore-report --from-literal=…`')];
      const newest = backups[0];
      const data = report.data ?? {};
      const rpo = newest ? minutes(lastWrite.getTime() - newest.takenAt.getTime()) : Number.NaN;
      // The restore: from the first restored object's creation to ledger available again.
      const restoredObjects = [config, ledger, service].map((o) => time(o?.metadata?.creationTimestamp)).filter(Number.isFinite);
      const started = restoredObjects.length > 0 ? Math.min(...restoredObjects) : Number.NaN;
      const availableAt = time(ledger?.status?.conditions?.find((c) => c.type === 'Available' && c.status === 'True')?.lastTransitionTime);
      const tookMs = availableAt - started;
      const took = tookMs / 60_000;
      const recordedRpo = Number(data['rpo-minutes']);
      const recordedRto = Number(data['rto-minutes']);
      // Timestamps have whole seconds: the true duration is within a second of theirs, rounded down or up.
      const rtoOk =
        Number.isFinite(took) &&
        Number.isInteger(recordedRto) &&
        recordedRto >= Math.max(0, Math.floor((tookMs - 1000) / 60_000)) &&
        recordedRto <= Math.ceil((tookMs + 1000) / 60_000);
      const problems = [
        recordedRpo === rpo
          ? ''
          : `rpo-minutes is ${data['rpo-minutes'] ?? 'missing'}, and the writes between the backup and the last write span a different time`,
        rtoOk
          ? ''
          : Number.isFinite(took)
            ? `rto-minutes is ${data['rto-minutes'] ?? 'missing'}, and the restore did not take that many whole minutes by the clock of the cluster`
            : 'rto-minutes cannot be judged yet: ledger is not available again',
      ].filter(Boolean);
      const tookText = Number.isFinite(took) ? `${Math.round(took * 60)} s` : 'not finished';
      return [
        criterion('source', data['restored-from'] === newest?.name, {
          pass: `The report names ${newest?.name}.`,
          fail: `restore-report says it restored from ${data['restored-from'] ?? 'nothing'}; the newest backup before the last write is another.`,
          hint: 'Which backup did you apply?',
        }),
        criterion('figures', problems.length === 0, {
          pass: `RPO ${rpo} min and a restore of ${data['rto-minutes']} min (${tookText}) are recorded.`,
          fail: `restore-report: ${problems.join('; ')}.`,
          hint: 'RPO: from the backup to the last write (incident: last-write-at). Restore time: from the creationTimestamp of the first object you restored to the time ledger became Available (`kubectl get deployment ledger -o yaml`, status.conditions).',
        }),
      ];
    },
  },
});

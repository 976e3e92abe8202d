/** Karpenter beside the local cluster: its instance catalogue, and how a lab that needs it waits for it. */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { INSTANCE_TYPES, instanceTypesFile } from '../../cluster/src/local/karpenter.ts';
import { ZONES } from '../../cluster/src/local/nodes.ts';
import { KarpenterAddOn } from '../../labs-server/src/labs/karpenter.ts';

interface Offering {
  Price: number;
  Available: boolean;
  Requirements: Array<{ key: string; operator: string; values: string[] }>;
}

describe("Karpenter's instance catalogue", () => {
  const catalogue = JSON.parse(instanceTypesFile()) as Array<{ name: string; architecture: string; offerings: Offering[] }>;

  it('offers arm64 and amd64, Spot and On-Demand, in every zone of the cluster', () => {
    expect(new Set(catalogue.map((t) => t.architecture))).toEqual(new Set(['amd64', 'arm64']));
    for (const type of catalogue) {
      const pairs = type.offerings.map((o) => o.Requirements.map((r) => r.values[0]).join('/'));
      for (const zone of ZONES) {
        expect(pairs, type.name).toContain(`spot/${zone}`);
        expect(pairs, type.name).toContain(`on-demand/${zone}`);
      }
    }
  });

  it('prices Spot below On-Demand for every type', () => {
    for (const type of catalogue) {
      const price = (capacity: string) => type.offerings.find((o) => o.Requirements[0]?.values[0] === capacity)?.Price ?? 0;
      expect(price('spot'), type.name).toBeGreaterThan(0);
      expect(price('spot'), type.name).toBeLessThan(price('on-demand'));
    }
    expect(catalogue.map((t) => t.name)).toEqual(INSTANCE_TYPES.map((t) => t.name));
  });
});

describe('Karpenter for a lab', () => {
  const logger = pino({ level: 'silent' });

  it('says how far its preparation is while it is not ready, then that it runs', async () => {
    let finish: () => void = () => {};
    const addOn = new KarpenterAddOn(
      (_log, progress) =>
        new Promise<void>((resolve) => {
          progress({ part: 'karpenter', action: 'building', unit: 'packages', done: 120, total: 1022 });
          finish = resolve;
        }),
      logger,
    );
    expect(await addOn.ready(20)).toBe(false);
    expect(addOn.status()).toBe('building karpenter: 120 of at most 1022 packages');
    finish();
    expect(await addOn.ready(20)).toBe(true);
    expect(addOn.status()).toBe('running');
  });

  it('reports a failure, and tries again on the next start', async () => {
    let calls = 0;
    const addOn = new KarpenterAddOn(async () => {
      calls += 1;
      if (calls === 1) throw new Error('go: module proxy unreachable');
    }, logger);
    expect(await addOn.ready(1000)).toBe(false);
    expect(addOn.status()).toMatch(/could not be started: go: module proxy unreachable/);
    expect(await addOn.ready(1000)).toBe(true);
    expect(calls).toBe(2);
  });
});

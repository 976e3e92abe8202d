/**
 * Flow control cannot wedge a client that follows the documented rule
 * (docs/terminal.md, "Flow control"): never hold MAX_ACK_STEP bytes or more
 * of processed output unacknowledged. A simulated shell prints in reads of
 * varying size through a batcher (frames of up to 128 KiB, sent even while
 * reading is paused), frames and acknowledgements travel with random delays,
 * and a client processes what it received a random amount at a time,
 * acknowledging in its step. Whatever the step, from 1 byte to MAX_ACK_STEP,
 * the output always completes: the simulation never reaches a state where
 * the server waits (paused) while nothing is in flight and the client, having
 * processed everything, owes no acknowledgement under the rule. The old
 * watermarks (resume below 32 KiB) do reach that state, and a client whose
 * step is larger than allowed may stall without the server holding more.
 */
import { describe, expect, it } from 'vitest';
import { MAX_ACK_STEP } from '../../contract/protocol.ts';
import { DEFAULT_WATERMARKS, FlowControl, type Watermarks } from '../../labs-server/src/terminal/flow-control.ts';

const KiB = 1024;
const OLD_WATERMARKS: Watermarks = { high: 256 * KiB, low: 32 * KiB };
/** The batcher sends a batch once it reaches 64 KiB, so a frame is at most that plus one read (≤ 64 KiB). */
const BATCH_BYTES = 64 * KiB;
const MAX_READ = 64 * KiB;
const MAX_FRAME = BATCH_BYTES + MAX_READ;
const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (random: () => number, min: number, max: number) => min + Math.floor(random() * (max - min + 1));

/** A pty read: an echo, a line, a chunk of a stream, or a full 64 KiB read. */
function readSize(random: () => number): number {
  const kind = random();
  if (kind < 0.2) return between(random, 1, 16);
  if (kind < 0.45) return between(random, 17, 4 * KiB);
  if (kind < 0.8) return between(random, 4 * KiB, MAX_READ - 1);
  return MAX_READ;
}

interface ClientKind {
  /** The client's acknowledgement step, in bytes. */
  step: number;
  /**
   * `steps`: acknowledges whole steps only, and keeps the remainder (less
   * than a step) for ever: the worst a client may do under the rule.
   * `all`: acknowledges everything it holds once that reaches a step.
   */
  mode: 'steps' | 'all';
}

interface Outcome {
  /** Every byte printed reached the client, and the server is reading. */
  completed: boolean;
  /** Nothing moves any more, yet output is left, or the server is paused. */
  stalled: boolean;
  flow: FlowControl;
  /** What the client holds, processed and not acknowledged, at the end. */
  held: number;
  maxPending: number;
  pauses: number;
}

/**
 * One run: `total` bytes printed, with every interleaving of reads, batch
 * flushes, deliveries, processing and acknowledgements chosen at random
 * (with weights that change every 64 steps, so that the client sometimes
 * falls far behind and sometimes keeps up). Ends when no step is possible.
 */
function simulate(marks: Watermarks, client: ClientKind, seed: number, total = 2 * 1024 * KiB): Outcome {
  const random = generator(seed);
  let reading = true;
  let pauses = 0;
  const flow = new FlowControl(
    marks,
    () => {
      reading = false;
      pauses += 1;
    },
    () => {
      reading = true;
    },
  );
  let printed = 0; // read from the pty
  let batch = 0; // read and not yet sent (the batcher's window)
  const toClient: number[] = []; // output frames in flight
  const toServer: number[] = []; // acknowledgements in flight
  let received = 0; // the client's: received, not yet processed
  let held = 0; // the client's: processed, not yet acknowledged
  let processed = 0;
  let maxPending = 0;
  let weights = [1, 1, 1, 1, 1];

  const send = () => {
    flow.sent(batch);
    toClient.push(batch);
    batch = 0;
  };
  const acknowledge = (bytes: number) => {
    toServer.push(bytes);
    held -= bytes;
  };
  const actions: Array<[enabled: () => boolean, run: () => void]> = [
    [
      () => reading && printed < total,
      () => {
        const size = Math.min(readSize(random), total - printed);
        printed += size;
        batch += size;
        if (batch >= BATCH_BYTES) send();
      },
    ],
    // The batcher's window ends (or a quiet shell's read goes out at once): even while reading is paused.
    [() => batch > 0, send],
    [
      () => toClient.length > 0,
      () => {
        received += toClient.shift() as number;
      },
    ],
    [
      () => received > 0,
      () => {
        const bytes = random() < 0.3 ? received : between(random, 1, received);
        received -= bytes;
        processed += bytes;
        held += bytes;
        if (held < client.step) return;
        // k whole steps go as one ACK: k ACKs of a step back to back leave the server in the same state.
        acknowledge(client.mode === 'all' ? held : held - (held % client.step));
      },
    ],
    [
      () => toServer.length > 0,
      () => {
        expect(flow.acked(toServer.shift() as number)).toBe(true);
      },
    ],
  ];

  for (let turn = 0; ; turn += 1) {
    if (turn % 64 === 0) weights = weights.map(() => 0.05 + random());
    const enabled = actions.flatMap(([can, run], i) => (can() ? [{ run, weight: weights[i] as number }] : []));
    if (enabled.length === 0) break;
    let pick = random() * enabled.reduce((sum, a) => sum + a.weight, 0);
    let chosen = enabled.length - 1;
    for (const [i, a] of enabled.entries()) {
      pick -= a.weight;
      if (pick < 0) {
        chosen = i;
        break;
      }
    }
    enabled[chosen]?.run();
    maxPending = Math.max(maxPending, flow.pending);
  }
  // Nothing is in flight and the client has processed everything: the server counts exactly what it holds.
  expect(flow.pending).toBe(held);
  const completed = processed === total && !flow.isPaused;
  return { completed, stalled: !completed, flow, held, maxPending, pauses };
}

const STEPS = [...new Set([1, 4 * KiB, 32 * KiB, 64 * KiB, MAX_ACK_STEP])];

describe('flow control', () => {
  it('has the documented numbers: stop above 256 KiB, read again below 192 KiB, steps of at most 64 KiB', () => {
    expect(DEFAULT_WATERMARKS).toEqual({ high: 256 * KiB, low: 192 * KiB });
    expect(MAX_ACK_STEP).toBe(64 * KiB);
    expect(DEFAULT_WATERMARKS.low).toBe(DEFAULT_WATERMARKS.high - MAX_ACK_STEP);
    // The guarantee: a client under the rule holds less than MAX_ACK_STEP once it has processed everything.
    expect(DEFAULT_WATERMARKS.low).toBeGreaterThanOrEqual(MAX_ACK_STEP);
  });

  it('refuses watermarks that could pause for good', () => {
    const nothing = () => undefined;
    expect(() => new FlowControl({ high: 1000, low: 0 }, nothing, nothing)).toThrow(/1 ≤ low ≤ high/);
    expect(() => new FlowControl({ high: 1000, low: 1001 }, nothing, nothing)).toThrow(/1 ≤ low ≤ high/);
    expect(() => new FlowControl({ high: 1000, low: 0.5 }, nothing, nothing)).toThrow(/1 ≤ low ≤ high/);
  });

  for (const step of STEPS) {
    for (const mode of ['steps', 'all'] as const) {
      it(`always completes the output for a client acknowledging ${mode === 'steps' ? 'whole steps' : 'all it holds'} every ${step} bytes`, () => {
        let pauses = 0;
        for (const seed of SEEDS) {
          const outcome = simulate(DEFAULT_WATERMARKS, { step, mode }, seed);
          expect(
            outcome.stalled,
            `seed ${seed}: paused=${outcome.flow.isPaused} with ${outcome.flow.pending} unacknowledged, ` +
              `and the client holds ${outcome.held} (less than its step of ${step}): it owes nothing`,
          ).toBe(false);
          expect(outcome.held).toBeLessThan(step);
          // The memory bound: the high watermark and one frame.
          expect(outcome.maxPending).toBeLessThanOrEqual(DEFAULT_WATERMARKS.high + MAX_FRAME);
          pauses += outcome.pauses;
        }
        // The runs did test something: the server stopped reading, many times over.
        expect(pauses).toBeGreaterThan(SEEDS.length);
      });
    }
  }

  it('wedges a 64 KiB client with the old watermarks (resume below 32 KiB): what the runs above would catch', () => {
    const wedged = SEEDS.map((seed) => simulate(OLD_WATERMARKS, { step: 64 * KiB, mode: 'steps' }, seed)).filter((o) => o.stalled);
    expect(wedged.length).toBeGreaterThan(0);
    for (const outcome of wedged) {
      expect(outcome.flow.isPaused).toBe(true);
      expect(outcome.held).toBeGreaterThanOrEqual(OLD_WATERMARKS.low);
      expect(outcome.held).toBeLessThan(64 * KiB);
    }
  });

  it('lets a client whose step is over the maximum stall, holding no more for it, until it acknowledges what it holds', () => {
    const step = 1024 * KiB;
    let stalls = 0;
    for (const seed of SEEDS) {
      const outcome = simulate(DEFAULT_WATERMARKS, { step, mode: 'steps' }, seed);
      expect(outcome.maxPending).toBeLessThanOrEqual(DEFAULT_WATERMARKS.high + MAX_FRAME);
      if (!outcome.stalled) continue;
      stalls += 1;
      const { flow, held } = outcome;
      expect(flow.isPaused).toBe(true);
      expect(held).toBeGreaterThanOrEqual(DEFAULT_WATERMARKS.low);
      // Claiming more than it holds is still refused and changes nothing...
      expect(flow.acked(held + 1)).toBe(false);
      expect(flow.pending).toBe(held);
      expect(flow.isPaused).toBe(true);
      // ...and acknowledging what it holds brings the output back at once.
      expect(flow.acked(held)).toBe(true);
      expect(flow.isPaused).toBe(false);
    }
    expect(stalls).toBeGreaterThan(0);
  });

  it('resumes for a client under the rule however its last acknowledgements are cut (every remainder below the step)', () => {
    // Exhaustive over what such a client can hold at the end, in 1 KiB strides and at the edges.
    for (const step of STEPS) {
      const remainders = new Set([...Array.from({ length: Math.ceil(step / KiB) }, (_, i) => i * KiB), step - 1]);
      for (const remainder of remainders) {
        const { flow, paused } = watched();
        const sent = DEFAULT_WATERMARKS.high + MAX_FRAME;
        flow.sent(sent);
        expect(paused()).toBe(true);
        expect(flow.acked(sent - remainder)).toBe(true);
        expect(paused(), `step ${step}, holding ${remainder}`).toBe(false);
      }
    }
  });

  it('refuses an acknowledgement of more than was sent, and changes nothing', () => {
    const { flow, paused } = watched();
    flow.sent(DEFAULT_WATERMARKS.high + 1);
    expect(paused()).toBe(true);
    expect(flow.acked(0xffffffff)).toBe(false);
    expect(flow.pending).toBe(DEFAULT_WATERMARKS.high + 1);
    expect(paused()).toBe(true);
    expect(flow.acked(-1)).toBe(false);
    expect(flow.acked(DEFAULT_WATERMARKS.high)).toBe(true);
    expect(paused()).toBe(false);
    flow.reset();
    expect(flow.pending).toBe(0);
  });
});

/** Flow control with the default watermarks, and whether it has stopped reading. */
function watched(): { flow: FlowControl; paused: () => boolean } {
  let paused = false;
  const flow = new FlowControl(
    DEFAULT_WATERMARKS,
    () => {
      paused = true;
    },
    () => {
      paused = false;
    },
  );
  return { flow, paused: () => paused };
}

/**
 * Every setting the project reads from the environment, in one schema: what
 * each variable means, its default and what values it takes. The lab server,
 * the cluster tooling, `npm run dev` and the tests all read their variables
 * through it, so a bad value stops whatever reads it with the variable named
 * and the problem said, instead of misbehaving later (a PUBLIC_ORIGINS entry
 * without its scheme used to make every terminal answer 403).
 *
 * The variables come in groups, one per part of the project that reads them:
 * `server`, `cluster`, `development` and `test`. Each part reads only its own
 * group (`readSettings(ClusterSettingsSchema, env)`), so a developer's
 * setting cannot stop the cluster CLI. README.md documents every variable
 * here and nothing else; test/unit/settings-docs.test.ts holds the two to
 * each other.
 *
 * This is the bottom layer: it imports nothing from `labs-server/` or
 * `cluster/`. Rules that belong to those (how strong an access code must be,
 * where the user's cache folder is when CDL_CACHE_DIR is unset) are applied
 * where they live, on the values validated here.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { describeIssues, UserError } from './errors.ts';

/** The environment as the schema reads it: names to text, some unset. */
export type Environment = Readonly<Record<string, string | undefined>>;

// ---------------------------------------------------------------------------
// Value kinds. Messages say what the value must be and, where it is no
// secret, what it was: `PORT: must be a port number from 1 to 65535, not "80a"`.

const quote = (input: unknown) => JSON.stringify(input) ?? String(input);

/** An empty value counts as unset, as `NAME= npm start` or a blank `NAME:` in a compose file leave it. */
const emptyIsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const text = (what: string) => z.string({ error: `must be ${what}` });

/** A number parsed from its text; `rule` says which numbers, `test` checks one. */
function numberSetting(rule: string, test: (value: number) => boolean, fallback: number) {
  return text(rule)
    .transform((raw, ctx) => {
      const value = raw.trim() === '' ? Number.NaN : Number(raw);
      if (Number.isFinite(value) && test(value)) return value;
      ctx.addIssue({ code: 'custom', message: `must be ${rule}, not ${quote(raw)}` });
      return z.NEVER;
    })
    .default(fallback);
}

const wholeNumber = (min: number, max: number, fallback: number, unit = '') =>
  numberSetting(`a whole number${unit} from ${min} to ${max}`, (n) => Number.isInteger(n) && n >= min && n <= max, fallback);

const port = (fallback: number) =>
  numberSetting('a port number from 1 to 65535', (n) => Number.isInteger(n) && n >= 1 && n <= 65_535, fallback);

const MAX_MINUTES = 7 * 24 * 60;
const minutes = (fallback: number) =>
  numberSetting(`a number of minutes above 0 and at most ${MAX_MINUTES}`, (n) => n > 0 && n <= MAX_MINUTES, fallback);

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (issue) => `must be one of ${values.join(', ')}, not ${quote(issue.input)}` });
}

/** A secret: its length is checked, its value never repeated in a message. */
const secret = (min: number, max: number) =>
  text('text')
    .min(min, { error: `must be ${min} to ${max} characters long` })
    .max(max, { error: `must be ${min} to ${max} characters long` });

/** Names a cluster can have: they become folder names, kind cluster names and kwokctl names. */
const clusterName = (fallback: string) =>
  text('a cluster name')
    .regex(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/, {
      error: (issue) => `${quote(issue.input)} is not a valid cluster name: use lower-case letters, digits and dashes (at most 32)`,
    })
    .default(fallback);

/** Where pods go, as a pod spec says it (its nodeSelector and tolerations). */
export const PodPlacementSchema = z
  .object({
    nodeSelector: z.record(z.string(), z.string()).default({}),
    tolerations: z
      .array(
        z
          .object({
            key: z.string().optional(),
            operator: z.enum(['Equal', 'Exists']).optional(),
            value: z.string().optional(),
            effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
            tolerationSeconds: z.number().int().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
export type PodPlacement = z.infer<typeof PodPlacementSchema>;

/** JSON text read with `schema`; a message names the first problem. */
function json<T extends z.ZodType>(what: string, schema: T) {
  return text(what).transform((raw, ctx): z.infer<T> => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be ${what}, and is not JSON` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    ctx.addIssue({ code: 'custom', message: `must be ${what}: ${describeIssues(parsed.error)}` });
    return z.NEVER;
  });
}

/** A comma-separated list's entries, trimmed, the empty ones dropped. */
export function listEntries(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** `a.b.c.d`, `a.b.c.d/n`, `x::y` or `x::y/n` read as an address and prefix; undefined when it is none of them. */
export function parseAddressRange(entry: string): { address: string; prefix?: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return { address, type };
  const bits = Number(prefix);
  if (!/^\d+$/.test(prefix) || bits > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix: bits, type };
}

/** The names Express's `trust proxy` knows for ranges, besides addresses. */
export const PROXY_NAMES: readonly string[] = ['loopback', 'linklocal', 'uniquelocal'];

function trustProxyProblem(value: string): string | undefined {
  const v = value.trim();
  if (v === '' || v === 'false' || /^\d+$/.test(v)) return undefined;
  if (v === 'true') {
    return 'true would let any client choose its own address; name the proxies (e.g. loopback or 10.0.0.0/8) or the number of hops';
  }
  const bad = listEntries(v).filter((e) => !PROXY_NAMES.includes(e) && parseAddressRange(e) === undefined);
  return bad.length ? `not an address, CIDR range, hop count, loopback, linklocal or uniquelocal: ${bad.join(', ')}` : undefined;
}

/**
 * Why `entry` is not an origin as a browser sends it in its `Origin` header
 * (`scheme://host[:port]`, scheme http or https, nothing after), or
 * undefined when it is one. A browser compares origins as text, so anything
 * else could never match and would refuse every terminal.
 */
export function originProblem(entry: string): string | undefined {
  const example = (host: string) => `https://${host || 'labs.example.org'}`;
  if (!entry.includes('://')) {
    return `an origin needs its scheme, e.g. ${example(entry.replace(/\/.*$/, ''))}`;
  }
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return 'not an origin: write scheme://host[:port], e.g. https://labs.example.org';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the scheme must be http or https, not ${url.protocol.slice(0, -1)}`;
  if (url.hostname === '') return 'an origin needs a host, e.g. https://labs.example.org';
  if (url.username || url.password) return `an origin has no user name or password; use ${url.origin}`;
  if (url.pathname !== '/' || /[?#]/.test(entry)) return `an origin has no path, query or fragment; use ${url.origin}`;
  return undefined;
}

// ---------------------------------------------------------------------------
// The lab server (`npm start`, `npm run dev`, labs-server/src/config.ts).

export const ServerSettingsSchema = z.object({
  /** TCP port of the site, the API and the terminals. Default 4321. */
  PORT: port(4321),
  /** Address to listen on. Default 127.0.0.1 (loopback); set 0.0.0.0 to serve a room. */
  HOST: text('an address').min(1, { error: 'must be an address to listen on, e.g. 0.0.0.0' }).default('127.0.0.1'),
  /** The server's pino log level. Default info. */
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * `single`: one learner on their own machine, no access code, a plain shell.
   * `workshop`: many learners, joining needs the access code, shells run in bubblewrap.
   * Default single.
   */
  CDL_MODE: oneOf(['single', 'workshop']).default('single'),
  /**
   * The event's access code (workshop mode), at most 64 characters. The
   * server also refuses one weaker than 36 bits (labs-server/src/access-code.ts).
   * Default: generated, kept in the cluster and printed at start.
   */
  CDL_ACCESS_CODE: text('text').max(64, { error: 'must be at most 64 characters long' }).optional(),
  /** The instructor's admin token, 16 to 256 characters. Default: generated, kept in the cluster and printed at start. */
  CDL_ADMIN_TOKEN: secret(16, 256).optional(),
  /** How long a session lives after its last activity (up to SESSION_MAX_MINUTES). Default 240 minutes. */
  SESSION_TTL_MINUTES: minutes(240),
  /** Activity never keeps a session longer than this from its start; the instructor can still extend it. Default 720 minutes. */
  SESSION_MAX_MINUTES: minutes(720),
  /** Sandboxes of a session idle this long are removed (progress is kept). Default 60 minutes. */
  SESSION_IDLE_MINUTES: minutes(60),
  /** A closed terminal's shell waits this long for its browser to come back. Default 60 s. */
  TERMINAL_GRACE_SECONDS: wholeNumber(0, 3600, 60, ' of seconds'),
  /** Memory of one workshop shell, its tmpfs home and /tmp included (where the server can make cgroups). Default 768 MiB. */
  TERMINAL_MEMORY_MIB: wholeNumber(128, 65_536, 768, ' of MiB'),
  /** Processes and threads of one workshop shell. Default 256. */
  TERMINAL_PROCESSES: wholeNumber(32, 65_536, 256),
  /**
   * Workshop sandboxes started ahead of time, waiting for the next learners
   * to open a terminal (their first prompt then comes in a few milliseconds
   * instead of after the sandbox's start). Default 2.
   */
  TERMINAL_SPARE_SHELLS: wholeNumber(0, 50, 2),
  /** CPU of one workshop shell, in cores (where the server can make cgroups). Default 0.5. */
  TERMINAL_CPUS: numberSetting('a number of cores from 0.05 to 64', (n) => n >= 0.05 && n <= 64, 0.5),
  /**
   * Where workshop shells run: `local`, on this server's machine (bubblewrap
   * in workshop mode, a plain shell in single mode), or `pods`, each
   * session's lab in a shell pod of its own in the cluster, owned by a
   * terminal agent, so that any replica of the server can serve it. Default local.
   */
  TERMINAL_SHELLS: oneOf(['local', 'pods']).default('local'),
  /**
   * Seconds a stopping server (SIGTERM) goes on serving after it has told its
   * browsers to reconnect and /healthz answers 503, so that a load balancer
   * stops sending it anyone first. Default 0; the Helm chart sets 5.
   */
  SHUTDOWN_DELAY_SECONDS: wholeNumber(0, 300, 0, ' of seconds'),
  /** With TERMINAL_SHELLS=pods: shell pods kept ready for the next learners to join. Default 0. */
  TERMINAL_POOL_SIZE: wholeNumber(0, 10_000, 0),
  /** With TERMINAL_SHELLS=pods: the shell pods' image. Default localhost/cdl/shell:1 (the local cluster's, made without a registry). */
  TERMINAL_SHELL_IMAGE: text('an image reference').min(1).default('localhost/cdl/shell:1'),
  /**
   * With TERMINAL_SHELLS=pods: where the shell pods go, as JSON with a pod
   * spec's `nodeSelector` and `tolerations`, e.g.
   * `{"nodeSelector":{"workload":"shells"},"tolerations":[{"key":"shells","operator":"Exists","effect":"NoSchedule"}]}`.
   * Default: anywhere (on the local cluster, its real node).
   */
  TERMINAL_POD_PLACEMENT: emptyIsUnset(json("a pod's placement (nodeSelector and tolerations)", PodPlacementSchema)),
  /**
   * Origins allowed to open terminals and to post to the API,
   * comma-separated, each `http(s)://host[:port]` as a browser sends it, e.g.
   * `https://labs.example.org`; read as the list of origins, normalised
   * (lower-case host, no default port). Anything else stops the server at
   * start with the entry named. Default: http://localhost:PORT and
   * http://127.0.0.1:PORT.
   */
  PUBLIC_ORIGINS: emptyIsUnset(
    text('a comma-separated list of origins').transform((value, ctx) => {
      const origins: string[] = [];
      for (const entry of listEntries(value)) {
        const problem = originProblem(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: `${entry}: ${problem}` });
        else origins.push(new URL(entry).origin);
      }
      return origins.length > 0 ? origins : undefined;
    }),
  ),
  /**
   * The API server's address as learners' own computers reach it, e.g.
   * `https://ABC123.gr7.eu-west-1.eks.amazonaws.com`, for the kubeconfig a
   * learner downloads; the terminals keep the address the server uses. Set it
   * where the server runs inside the cluster (the Helm chart's
   * `publicApiServer`), whose own address is the in-cluster one. Default: the
   * server's own.
   */
  CDL_PUBLIC_API_SERVER: emptyIsUnset(
    text('an https:// URL').refine((value) => /^https:\/\/[^\s/]+(\/.*)?$/.test(value), {
      error: (issue) => `must be an https:// URL, not ${quote(issue.input)}`,
    }),
  ),
  /** `true` or `false`: mark the session cookie Secure (and name it `__Host-…`), and send HSTS. Default: true when every public origin is https. */
  SECURE_COOKIES: oneOf(['true', 'false']).optional(),
  /**
   * Which proxies in front of the server to believe about the client's
   * address (X-Forwarded-For): a number of hops, or comma-separated addresses,
   * CIDR ranges or `loopback`, `linklocal`, `uniquelocal`. Default: none; the
   * socket's address is the client's.
   */
  TRUST_PROXY: text('a hop count or a list of proxies')
    .superRefine((value, ctx) => {
      const problem = trustProxyProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** Live sessions one client address may hold (workshop mode); 0 for no limit. Default 3. */
  SESSIONS_PER_ADDRESS: wholeNumber(0, 10_000, 3),
  /**
   * Addresses or CIDR ranges that a whole room shares (a venue's NAT),
   * comma-separated: they are not held to SESSIONS_PER_ADDRESS, and may join
   * and mistype the code more often. Default: none.
   */
  SHARED_ADDRESSES: text('a list of addresses')
    .superRefine((value, ctx) => {
      const problems = listEntries(value).filter((e) => parseAddressRange(e) === undefined);
      if (problems.length) ctx.addIssue({ code: 'custom', message: `not an address or CIDR range: ${problems.join(', ')}` });
    })
    .optional(),
  /** Live sessions the whole workshop may hold, across every replica. Default 200. */
  MAX_SESSIONS: wholeNumber(1, 100_000, 200),
  /** When set (16 to 256 characters), `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`. Default: open. */
  METRICS_TOKEN: secret(16, 256).optional(),
  /**
   * A learning record store's xAPI endpoint, `http(s)://…` (e.g.
   * `https://lrs.example.org/xapi/`): each passed step and finished lab is
   * sent there as an xAPI statement. Default: none, nothing is sent.
   */
  CDL_XAPI_ENDPOINT: emptyIsUnset(
    text('a URL').superRefine((value, ctx) => {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        // said below
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        ctx.addIssue({ code: 'custom', message: `must be an http or https URL, e.g. https://lrs.example.org/xapi/, not ${quote(value)}` });
      } else if (url.username || url.password) {
        ctx.addIssue({ code: 'custom', message: 'must not hold a user name or password: set CDL_XAPI_USERNAME and CDL_XAPI_PASSWORD' });
      }
    }),
  ),
  /** The learning record store's key (HTTP Basic user name) for CDL_XAPI_ENDPOINT. Default: none (no Authorization header). */
  CDL_XAPI_USERNAME: emptyIsUnset(secret(1, 256)),
  /** The learning record store's secret (HTTP Basic password), never logged. Default: none. */
  CDL_XAPI_PASSWORD: emptyIsUnset(secret(1, 256)),
});
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;

// ---------------------------------------------------------------------------
// The cluster tooling (`npm run cluster`, and every command that brings a cluster up).

/** The cluster providers, by the name `--provider` and CDL_PROVIDER take. */
export const ProviderNameSchema = oneOf(['local', 'kind', 'external']);

export const ClusterSettingsSchema = z.object({
  /**
   * `local`, `kind` or `external`. `--provider` comes first; without either,
   * the provider that last ran `up` for this cluster, else kind where Docker
   * and kind both work, else local. Default: detected. Empty counts as unset.
   */
  CDL_PROVIDER: emptyIsUnset(ProviderNameSchema),
  /** The cluster's name: its folder `.cluster/<name>/`, its kind or kwok cluster. Default cdl. */
  CDL_CLUSTER_NAME: clusterName('cdl'),
  /** The external provider's kubeconfig (read, never written). Default: none, and the external provider says it needs one. */
  CDL_KUBECONFIG: emptyIsUnset(text('a path')),
  /** Where the local provider's binaries are kept. Default: `$XDG_CACHE_HOME/container-day-labs`, else `~/.cache/container-day-labs` (cluster/src/paths.ts). */
  CDL_CACHE_DIR: emptyIsUnset(text('a path')),
  /**
   * How the local provider gets the binaries its cache lacks: `download` the
   * official releases (each checked against its published checksum), `build`
   * them from the Go module proxy, or `auto`: download, and build what could
   * not be downloaded. Default auto.
   */
  CDL_BINARIES: oneOf(['auto', 'download', 'build']).default('auto'),
  /**
   * A server laid out like the official release servers, each URL's host and
   * path under it (`<mirror>/dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubectl`),
   * to download from instead of them. Default: the official servers.
   */
  CDL_BINARY_MIRROR: emptyIsUnset(
    text('an http or https URL').refine((value) => /^https?:\/\/[^/]/.test(value) && URL.canParse(value), {
      error: (issue) => `must be an http or https URL, not ${quote(issue.input)}`,
    }),
  ),
  /**
   * The local provider's real node, which runs containers beside the
   * simulated nodes: `auto` starts it where the machine can (Linux, root,
   * its Debian packages present or installable) and says why not otherwise;
   * `on` fails with the reason where it cannot; `off` never starts it.
   * `--real-node` and `--no-real-node` come first. Default auto.
   */
  CDL_REAL_NODE: oneOf(['auto', 'on', 'off']).default('auto'),
});
export type ClusterSettings = z.infer<typeof ClusterSettingsSchema>;

// ---------------------------------------------------------------------------
// The terminal agent (labs-server/src/agent/: shells apart from the server, in pods).

export const AgentSettingsSchema = z.object({
  /** A file holding the secret the lab servers prove themselves with (at least 32 characters). Required. */
  CDL_AGENT_SECRET_FILE: text('a path'),
  /** TCP port the agent listens on for lab servers. Default 7681. */
  CDL_AGENT_PORT: port(7681),
  /** Address the agent listens on. Default 0.0.0.0 (a pod's own address). */
  CDL_AGENT_HOST: text('an address').min(1, { error: 'must be an address to listen on' }).default('0.0.0.0'),
  /** Where the agent makes its shells' folders and homes. Default: a folder in the system's temporary folder. */
  CDL_AGENT_DIR: emptyIsUnset(text('a path')),
  /** How long an agent's shell waits for its browser to come back. Default 60. */
  CDL_AGENT_GRACE_SECONDS: wholeNumber(0, 3600, 60, ' of seconds'),
});
export type AgentSettings = z.infer<typeof AgentSettingsSchema>;

// ---------------------------------------------------------------------------
// Development (`npm run dev`, and `astro dev` in site/).

export const DevelopmentSettingsSchema = z.object({
  /** Port of Astro's dev server in `npm run dev` (lessons with live reload). Default 4322. */
  DEV_PORT: port(4322),
  /**
   * The lab server Astro's dev server forwards `/api` and the terminals to
   * (site/astro.config.mjs); `npm run dev` sets it. Default http://127.0.0.1:4321.
   */
  LABS_SERVER: emptyIsUnset(
    text('a URL').refine((value) => originProblem(value.replace(/\/$/, '')) === undefined, {
      error: (issue) => `must be the lab server's http(s)://host:port, not ${quote(issue.input)}`,
    }),
  ).transform((value) => value ?? 'http://127.0.0.1:4321'),
});
export type DevelopmentSettings = z.infer<typeof DevelopmentSettingsSchema>;

// ---------------------------------------------------------------------------
// The tests (`npm test`, `npm run test:browser`).

/** What the browser tests' global setup hands their workers: where the server is and its workshop's secrets. */
export const BrowserTestsSchema = z.object({
  origin: z.string(),
  accessCode: z.string(),
  adminToken: z.string(),
});
export type BrowserTests = z.infer<typeof BrowserTestsSchema>;

export const TestSettingsSchema = z.object({
  /** The test suite's own local cluster, beside any a developer runs as `cdl`; lets two test runs on one machine keep apart. Default cdl-test. */
  CDL_TEST_CLUSTER: clusterName('cdl-test'),
  /** The Chromium or Chrome the browser tests drive. Default: `chromium` or `chromium-browser` on PATH. Empty counts as unset. */
  CHROMIUM_PATH: emptyIsUnset(text('a path')),
  /**
   * Set by the browser tests' global setup for their workers (JSON: the
   * server's origin, access code and admin token); not for people to set.
   * Default: unset outside a browser test run.
   */
  CDL_BROWSER_TESTS: emptyIsUnset(
    text('JSON')
      .transform((value, ctx) => {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be the JSON that the global setup of the browser tests writes' });
          return z.NEVER;
        }
      })
      .pipe(BrowserTestsSchema),
  ),
});
export type TestSettings = z.infer<typeof TestSettingsSchema>;

// ---------------------------------------------------------------------------
// All of them, and reading them.

/** The groups, by the name their errors use. */
export const SETTINGS_GROUPS = {
  server: ServerSettingsSchema,
  cluster: ClusterSettingsSchema,
  agent: AgentSettingsSchema,
  development: DevelopmentSettingsSchema,
  test: TestSettingsSchema,
} as const;

/** Every setting of the project: the groups together (no variable is in two). */
export const SettingsSchema = z.object({
  ...ServerSettingsSchema.shape,
  ...ClusterSettingsSchema.shape,
  ...AgentSettingsSchema.shape,
  ...DevelopmentSettingsSchema.shape,
  ...TestSettingsSchema.shape,
});
export type Settings = z.infer<typeof SettingsSchema>;

/** The names of every setting, as README.md must document them. */
export const SETTING_NAMES: readonly string[] = Object.keys(SettingsSchema.shape);

/** A setting is wrong: the message names each variable and its problem. */
export class SettingsError extends UserError {
  /** The variables with a problem, in the order found. */
  readonly variables: string[];

  constructor(message: string, variables: string[], options?: ErrorOptions) {
    super('invalid_settings', message, 'Fix or unset the variables named; README.md (Settings) describes each.', options);
    this.variables = variables;
  }
}

/**
 * Reads one group of settings (or all of them) from `env` and validates it.
 * Variables outside the group are ignored. Throws a `SettingsError` naming
 * every variable with a problem: `invalid server settings in the environment:
 * PORT: must be a port number…; PUBLIC_ORIGINS: labs.example.org: an origin
 * needs its scheme, e.g. https://labs.example.org`.
 */
export function readSettings<S extends z.ZodObject>(schema: S, env: Environment = process.env, group = groupName(schema)): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error, { schema, root: '(environment)' });
  const variables = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? '')))].filter(Boolean);
  const which = group ? `${group} settings` : 'settings';
  throw new SettingsError(`invalid ${which} in the environment: ${problems}`, variables, { cause: parsed.error });
}

function groupName(schema: z.ZodObject): string | undefined {
  return Object.entries(SETTINGS_GROUPS).find(([, group]) => group === schema)?.[0];
}

/** The lab server's settings. */
export const serverSettings = (env: Environment = process.env): ServerSettings => readSettings(ServerSettingsSchema, env);
/** The cluster tooling's settings. */
export const clusterSettings = (env: Environment = process.env): ClusterSettings => readSettings(ClusterSettingsSchema, env);
/** The terminal agent's settings. */
export const agentSettings = (env: Environment = process.env): AgentSettings => readSettings(AgentSettingsSchema, env);
/** `npm run dev`'s settings. */
export const developmentSettings = (env: Environment = process.env): DevelopmentSettings => readSettings(DevelopmentSettingsSchema, env);
/** The tests' settings. */
export const testSettings = (env: Environment = process.env): TestSettings => readSettings(TestSettingsSchema, env);

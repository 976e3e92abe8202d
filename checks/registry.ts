/**
 * Every lab's check, by lab id. The server runs checks only from here, by
 * the ids of a lab and a step, never from a path in a request.
 */

import batchEnginePermissions from './batch-engine-permissions.ts';
import batchTheRightWay from './batch-the-right-way.ts';
import ciDeployer from './ci-deployer.ts';
import deployChangesSafely from './deploy-changes-safely.ts';
import eksAccess from './eks-access.ts';
import firstDeployment from './first-deployment.ts';
import healthProbes from './health-probes.ts';
import type { LabCheck } from './lib/check.ts';
import moveToGraviton from './move-to-graviton.ts';
import networkSegmentation from './network-segmentation.ts';
import onboardTenant from './onboard-tenant.ts';
import policyAsCode from './policy-as-code.ts';
import recreateFromScratch from './recreate-from-scratch.ts';
import rightSizedNodes from './right-sized-nodes.ts';
import runtimeSecurity from './runtime-security.ts';
import scaleOnLatency from './scale-on-latency.ts';
import secretsLeastRead from './secrets-least-read.ts';
import selfServiceApi from './self-service-api.ts';
import serverlessNode from './serverless-node.ts';
import shortLivedCredentials from './short-lived-credentials.ts';
import signalsAndCost from './signals-and-cost.ts';
import surviveZoneLoss from './survive-zone-loss.ts';
import testTheRestore from './test-the-restore.ts';
import upgradeReady from './upgrade-ready.ts';
import whoMayDoWhat from './who-may-do-what.ts';
import whoReadTheSecret from './who-read-the-secret.ts';
import whyItCrashed from './why-it-crashed.ts';

const all: LabCheck[] = [
  firstDeployment,
  whoMayDoWhat,
  moveToGraviton,
  serverlessNode,
  batchTheRightWay,
  shortLivedCredentials,
  secretsLeastRead,
  networkSegmentation,
  signalsAndCost,
  scaleOnLatency,
  whoReadTheSecret,
  deployChangesSafely,
  eksAccess,
  surviveZoneLoss,
  healthProbes,
  testTheRestore,
  ciDeployer,
  onboardTenant,
  runtimeSecurity,
  recreateFromScratch,
  batchEnginePermissions,
  policyAsCode,
  selfServiceApi,
  upgradeReady,
  rightSizedNodes,
  whyItCrashed,
];

export const CHECKS: Record<string, LabCheck> = Object.fromEntries(all.map((check) => [check.lab, check]));

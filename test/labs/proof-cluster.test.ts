// Every cluster-scope lab, both ways, one attempt at a time: see test/support/proof.ts.
import { proveLabs } from '../support/proof.ts';

proveLabs('cluster');

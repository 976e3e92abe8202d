// Every namespace-scope lab, both ways, in parallel: see test/support/proof.ts.
import { proveLabs } from '../support/proof.ts';

proveLabs('namespace');
